package guard

import (
	"context"
	"time"
)

// ready runs a planned job in dry-run, or takes it into the update once the
// maintenance window is open and a slot is free.
func (r *run) ready(ctx context.Context, j Job, now time.Time) move {
	// The gates decide on the cluster as read and recorded in this very
	// step, since the step may claim the update.
	if !r.fresh {
		if err := r.observe(ctx); err != nil {
			return r.failure(j, "read the cluster before the update", err, now)
		}
	}
	if mv, stop := r.gates(ctx, j, now); stop {
		return mv
	}
	if j.Plan.Target.Type == "UserAssigned" && len(j.Plan.ControlPlane) > 0 {
		return move{state: JobGrantingRoles, outcome: "started: granting roles to the user-assigned identity before the update", alert: AlertStarted}
	}
	return move{state: JobUpdating, outcome: "started: updating the cluster to a " + j.Plan.Target.Type + " identity", alert: AlertStarted,
		claim: true, edit: claimUpdate(now, r.cluster)}
}
