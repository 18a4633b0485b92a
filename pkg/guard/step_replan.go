package guard

import (
	"context"
	"strconv"
	"time"
)

// replan plans again when the cluster changed under the job before any
// PUT of its own applied, from the cluster as just read.
func (r *run) replan(ctx context.Context, j Job, c Cluster, why string, now time.Time) move {
	if j.Replans >= maxReplans {
		return move{state: JobFailed, outcome: "failed: " + why + ", " + strconv.Itoa(maxReplans) + " times", alert: AlertFailed}
	}
	p, err := r.plan(ctx, c)
	if err != nil {
		return r.failure(j, "plan again", err, now)
	}
	edit := func(j *Job) { j.Replans++; j.Plan = p; j.UpdateStartedAt = time.Time{} }
	if p.Blocked != "" {
		return move{state: JobBlocked, outcome: "blocked: " + p.Blocked, alert: AlertBlocked, edit: edit}
	}
	return move{state: JobPlanned, outcome: "planned again: " + why, edit: edit}
}
