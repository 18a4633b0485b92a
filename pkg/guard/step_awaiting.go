package guard

import (
	"context"
	"strings"
	"time"
)

// awaitingApproval parks the job until the finding records an approval,
// then plans. While it waits, each look computes the plan (reading only),
// so the approver sees what they approve (aksguard status); the approval
// is taken for that plan, and a plan that differs when the job plans for
// real stops it for a new approval.
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
		mv := move{state: j.State, outcome: text, wait: now.Add(r.s.backoff(j.WakeSeq))}
		if r.cluster != nil {
			p, err := r.plan(ctx, *r.cluster)
			if err != nil {
				// The preview waits for the next look; the approval does not.
				r.s.log.Warn("plan preview failed", "job_id", j.ID, "cluster_id", j.Cluster.String(), "error", err)
				return mv
			}
			mv.outcome += "; plan " + p.Digest() + " ready: aksguard status " + j.Cluster.String()
			mv.edit = func(j *Job) { j.Plan = p }
		}
		return mv
	}
	if r.cluster == nil {
		return move{state: JobCancelled, outcome: "cancelled: cluster deleted", alert: AlertCancelled}
	}
	p, err := r.plan(ctx, *r.cluster)
	if err != nil {
		return r.failure(j, "plan", err, now)
	}
	// What the approver could see: the preview, unless it could not be
	// made whole (a blocked preview lists no grants).
	shown := j.Plan
	if shown == nil || shown.Blocked != "" {
		shown = p
	}
	approved := j.ApprovedPlan // carried over from a job that ran dry
	if approved == "" {
		approved = shown.Digest()
	}
	edit := func(j *Job) {
		j.Plan, j.Approval, j.Mode, j.ApprovedPlan = p, f.Approval, r.s.modeFor(j.Cluster), approved
	}
	if p.Blocked != "" {
		return move{state: JobBlocked, outcome: "blocked: " + p.Blocked, alert: AlertBlocked, edit: edit}
	}
	if approved != p.Digest() {
		what := p.changes(shown)
		if j.ApprovedPlan != "" {
			what = "plan " + j.ApprovedPlan + " was approved, for a dry run; it is now " + p.Digest()
		}
		return move{state: JobBlocked, alert: AlertBlocked, edit: edit,
			outcome: "blocked: the plan changed since it was shown for approval (" + what + "); read it (aksguard status " + j.Cluster.String() + ") and approve again"}
	}
	return move{state: JobPlanned, outcome: "planned: " + strings.Join(p.Lines(), "; "), alert: AlertPlanned, edit: edit}
}

func (s *Service) modeFor(id ClusterID) Mode {
	if s.enforces(id) {
		return ModeEnforce
	}
	return ModeDryRun
}
