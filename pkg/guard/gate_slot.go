package guard

import (
	"context"
	"fmt"
	"time"
)

// noSlot keeps the job waiting while MaxUpdating clusters are updating. It
// asks the store for those jobs alone, so its cost does not grow with the
// jobs ever run; a record the store cannot decode counts as updating, the
// safe guess, and does not stop the count.
func (r *run) noSlot(ctx context.Context, j Job, now time.Time) (move, bool) {
	jobs, err := r.s.store.JobsIn(ctx, JobUpdating, JobGrantingRoles)
	busy, err := leftOut(r.s.log, "count updating jobs", err)
	if err != nil {
		return r.failure(j, "count updating jobs", err, now), true
	}
	for _, o := range jobs {
		if o.ID != j.ID || !o.Cluster.Same(j.Cluster) {
			busy++
		}
	}
	if busy < r.s.maxUpdating {
		return move{}, false
	}
	return move{state: j.State, outcome: fmt.Sprintf("waiting for an update slot: %d clusters are updating (cap %d)", busy, r.s.maxUpdating),
		wait: now.Add(slotWait)}, true
}
