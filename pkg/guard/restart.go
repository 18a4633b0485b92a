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
	return s.replaceJob(ctx, f, j, r.why, "approved again after job "+j.ID+" ended "+string(j.State), "approved again", "")
}

// replaceJob opens a new job for f in place of j, which ended without
// changing the cluster; approvedPlan, when set, is the digest of the plan
// an approval already covers.
func (s *Service) replaceJob(ctx context.Context, f Finding, j Job, why cause, detail, reason, approvedPlan string) (Outcome, error) {
	now := s.now()
	d := &decision{next: f, now: now, why: why, out: Outcome{Cluster: f.Cluster}}
	d.next.Outbox = append([]Effect(nil), f.Outbox...)
	d.next.JobID = newJobID(f.Cluster, now)
	d.audit("job-restarted", detail)
	d.openJob(now, reason, approvedPlan)
	if err := s.store.SaveFinding(ctx, &d.next); err != nil {
		return Outcome{}, err
	}
	if err := s.drainFinding(ctx, &d.next); err != nil {
		return Outcome{}, err
	}
	return Outcome{Result: ResultFlagged, Cluster: f.Cluster, JobID: d.next.JobID, Detail: reason + ": job " + d.next.JobID + " replaces " + j.ID}, nil
}

// enforceDryRuns gives a job that ran dry, where the guard now enforces
// (the mode or the scopes changed), a successor that runs for real on the
// same approval: the approval covered a plan, so it needs no new one while
// the plan is unchanged; a changed plan stops the successor for one.
func (s *Service) enforceDryRuns(ctx context.Context, out *ReconcileOutcome) error {
	if s.mode != ModeEnforce {
		return nil // nothing can run for real: no need to read the dry-run jobs every tick
	}
	jobs, err := s.store.JobsIn(ctx, JobDryRunComplete)
	if err = s.partial(err, out); err != nil {
		return fmt.Errorf("list dry-run jobs: %w", err)
	}
	for _, j := range jobs {
		if j.ApprovedPlan == "" || j.Approval == nil || !s.enforces(j.Cluster) {
			continue
		}
		f, err := s.store.Finding(ctx, j.Cluster)
		if err != nil {
			out.Waiting++
			continue
		}
		if f.JobID != j.ID || f.State != FindingOpen || !f.Approval.approved() || !sameChange(f.Approval.Change, j.Approval.Change) {
			continue // approved again, exempted, resolved: handled elsewhere
		}
		why := cause{id: "enforce-" + j.ID, what: "reconcile: enforce now applies"}
		if _, err := s.replaceJob(ctx, f, j, why, "enforce now applies to a cluster whose job "+j.ID+" ran dry; the approved plan "+j.ApprovedPlan+" carries over",
			"enforce now applies", j.ApprovedPlan); err != nil {
			out.Waiting++
			s.log.Warn("reconcile: dry-run job not replaced", "job_id", j.ID, "error", err)
			continue
		}
		out.Enforced++
	}
	return nil
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
