package guard

import (
	"context"
	"fmt"
	"time"
)

// noSlot keeps the job waiting while MaxUpdating clusters are updating.
func (r *run) noSlot(ctx context.Context, j Job, now time.Time) (move, bool) {
	jobs, err := r.s.store.Jobs(ctx)
	if err != nil {
		return r.failure(j, "count updating jobs", err, now), true
	}
	busy := 0
	for _, o := range jobs {
		if (o.State == JobUpdating || o.State == JobGrantingRoles) && o.ID != j.ID {
			busy++
		}
	}
	if busy < r.s.maxUpdating {
		return move{}, false
	}
	return move{state: j.State, outcome: fmt.Sprintf("waiting for an update slot: %d clusters are updating (cap %d)", busy, r.s.maxUpdating),
		wait: now.Add(slotWait)}, true
}
