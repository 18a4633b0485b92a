package guard

import (
	"context"
	"fmt"
	"time"
)

// restart answers a person approving again after a job ended. A job that
// had sent its update and then stopped (a role it could not re-grant, an
// operation that failed) resumes where it stopped. One that ended without
// changing the cluster (blocked, failed, dry run, cancelled) is replaced by
// a new job, for example after granting the missing permission or
// switching to enforce mode.
func (s *Service) restart(ctx context.Context, j Job, r *run) (Outcome, error) {
	f := r.finding
	out := Outcome{Result: ResultDuplicate, Cluster: j.Cluster, JobID: j.ID, Detail: "job already " + string(j.State)}
	if j.State == JobSucceeded || r.m.Seq != 0 || f.JobID != j.ID || !f.Approval.approved() || !f.Approval.At.After(j.UpdatedAt) {
		return out, nil
	}
	if j.UpdateETag != "" && j.Plan != nil && (j.State == JobBlocked || j.State == JobFailed || j.State == JobKubeletPending) {
		return s.resume(ctx, j, r)
	}
	if f.State != FindingOpen {
		return out, nil
	}
	now := s.now()
	d := &decision{next: f, now: now, why: r.why, out: Outcome{Cluster: f.Cluster}}
	d.next.Outbox = append([]Effect(nil), f.Outbox...)
	d.next.JobID = newJobID(f.Cluster, now)
	d.audit("job-restarted", "approved again after job "+j.ID+" ended "+string(j.State))
	d.openJob(now, "approved again")
	if err := s.store.SaveFinding(ctx, &d.next); err != nil {
		return Outcome{}, err
	}
	if err := s.drainFinding(ctx, &d.next); err != nil {
		return Outcome{}, err
	}
	return Outcome{Result: ResultFlagged, Cluster: f.Cluster, JobID: d.next.JobID, Detail: "approved again: job " + d.next.JobID + " replaces " + j.ID}, nil
}

// resume takes a job that stopped after its update back into the update
// (still running, or to be sent again: the person's new approval allows a
// second PUT) or the re-grant, and on to verify and the node image
// upgrades. Pools that had no newer image are tried again.
func (s *Service) resume(ctx context.Context, j Job, r *run) (Outcome, error) {
	if err := r.observe(ctx); err != nil {
		return Outcome{}, fmt.Errorf("read cluster to resume job %s: %w", j.ID, err)
	}
	next := JobUpdating
	if migrated(r.cluster, j.Plan) {
		next = JobRegranting
	}
	r.applyMove(&j, move{state: next, outcome: "resumed: approved again by " + r.finding.Approval.By.String(),
		edit: func(j *Job) {
			j.Error, j.NoNewerImage, j.PoolToken, j.PoolUpgrading = "", nil, "", ""
			if j.ResumeToken != "" {
				j.UpdateStartedAt = s.now() // a fresh allowance for the operation
			} else if next == JobUpdating {
				j.UpdateStartedAt, j.UpdateETag = time.Time{}, ""
			}
		}})
	if err := s.saveJob(ctx, &j); err != nil {
		return Outcome{}, err
	}
	return r.advance(ctx, &j)
}
