package guard

import (
	"context"
	"time"
)

// gates are what must hold right before the PUT: the finding still open
// with this job and approved, the mode still enforce, the window open, the
// plan still the one approved, the permissions, a slot free.
func (r *run) gates(ctx context.Context, j Job, now time.Time) (move, bool) {
	if stop, mv := r.stillWanted(j); stop {
		return mv, true
	}
	if mv, dry := r.dryRun(j); dry {
		return mv, true
	}
	if mv, wait := r.windowClosed(ctx, j, now); wait {
		return mv, true
	}
	if mv, stop := r.planChanged(ctx, j, now); stop {
		return mv, true
	}
	if mv, stop := r.lacksPermissions(ctx, j, now); stop {
		return mv, true
	}
	return r.noSlot(ctx, j, now)
}
