package guard

import (
	"context"
	"strings"
	"time"
)

// lacksPermissions asks ARM again, right before the update, whether the
// guard may do all the job needs: a role removed since the plan blocks the
// job before anything changes, never halfway through.
func (r *run) lacksPermissions(ctx context.Context, j Job, now time.Time) (move, bool) {
	if j.Plan == nil || len(j.Plan.Needs) == 0 {
		return move{}, false
	}
	missing, _, err := preflight(ctx, r.s.permissions, j.Plan.Needs)
	switch {
	case err != nil:
		return r.failure(j, "read the guard's permissions", err, now), true
	case len(missing) > 0:
		return move{state: JobBlocked, outcome: "blocked: " + lacking(missing), alert: AlertBlocked}, true
	}
	return move{}, false
}

// lacking says what the guard's identity may not do.
func lacking(missing []Need) string {
	parts := make([]string, len(missing))
	for i, n := range missing {
		parts[i] = n.String()
	}
	return "the guard's identity may not " + strings.Join(parts, "; ") + "; grant these, then approve again (nothing was changed)"
}
