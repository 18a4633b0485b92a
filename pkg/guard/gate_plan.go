package guard

import (
	"context"
	"time"
)

// planChanged plans again right before the update: a plan that no longer
// matches the one approved (another identity, roles added or gone, on new
// scopes) stops the job for a new approval before anything changes.
func (r *run) planChanged(ctx context.Context, j Job, now time.Time) (move, bool) {
	if j.ApprovedPlan == "" || j.Plan == nil || r.cluster == nil {
		return move{}, false // approved before plans had digests
	}
	p, err := r.plan(ctx, *r.cluster)
	switch {
	case err != nil:
		return r.failure(j, "plan again before the update", err, now), true
	case p.Blocked != "":
		return move{state: JobBlocked, outcome: "blocked: " + p.Blocked, alert: AlertBlocked, edit: func(j *Job) { j.Plan = p }}, true
	case p.Digest() != j.ApprovedPlan:
		return move{state: JobBlocked, alert: AlertBlocked, edit: func(j *Job) { j.Plan = p },
			outcome: "blocked: the plan changed since it was approved (" + p.changes(j.Plan) + "); nothing was changed; read it (aksguard status " + j.Cluster.String() + ") and approve again"}, true
	}
	return move{}, false
}
