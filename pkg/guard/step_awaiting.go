package guard

import (
	"context"
	"strings"
	"time"
)

// awaitingApproval parks the job until the finding records an approval,
// then plans.
func (r *run) awaitingApproval(ctx context.Context, j Job, now time.Time) move {
	f := r.finding
	if !f.Approval.approved() {
		if r.m.Seq == 0 && j.NextWake.After(now) {
			return move{state: j.State}
		}
		text := awaitingApproval
		if a := f.Approval; a != nil && a.Status != ApprovalRemoved {
			text += " (" + approvalText(a) + ")"
		}
		return move{state: j.State, outcome: text, wait: now.Add(r.s.backoff(j.WakeSeq))}
	}
	if r.cluster == nil {
		return move{state: JobCancelled, outcome: "cancelled: cluster deleted", alert: AlertCancelled}
	}
	p, err := r.plan(ctx, *r.cluster)
	if err != nil {
		return r.failure(j, "plan", err, now)
	}
	edit := func(j *Job) { j.Plan, j.Approval, j.Mode = p, f.Approval, r.s.modeFor(j.Cluster) }
	if p.Blocked != "" {
		return move{state: JobBlocked, outcome: "blocked: " + p.Blocked, alert: AlertBlocked, edit: edit}
	}
	return move{state: JobPlanned, outcome: "planned: " + strings.Join(p.Lines(), "; "), alert: AlertPlanned, edit: edit}
}

func (s *Service) modeFor(id ClusterID) Mode {
	if s.enforces(id) {
		return ModeEnforce
	}
	return ModeDryRun
}
