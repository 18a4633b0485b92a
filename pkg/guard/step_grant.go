package guard

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// grantAhead grants the user-assigned identity its control-plane roles
// before the update, then lets them propagate.
func (r *run) grantAhead(ctx context.Context, j Job, now time.Time) move {
	granted, err := r.grant(ctx, j, j.Plan.ControlPlane, j.Plan.TargetPrincipal.ObjectID)
	if err != nil {
		mv := r.failure(j, "grant roles to "+j.Plan.Target.UserAssigned, err, now)
		return withGranted(mv, granted)
	}
	return withGranted(move{state: JobUpdating, outcome: "roles granted to the user-assigned identity; updating after " + r.s.propagation.String() + " for them to propagate",
		wait: now.Add(r.s.propagation)}, granted)
}

// withGranted records grants made even when the step fails later.
func withGranted(mv move, granted []string) move {
	if len(granted) == 0 {
		return mv
	}
	return mv.then(func(j *Job) { j.Granted = append(j.Granted, granted...) })
}

// goneKey records a grant whose scope no longer existed.
func goneKey(k string) string { return "gone:" + k }

// grant makes the assignments for principal that are not done yet and
// returns the keys of those it made.
func (r *run) grant(ctx context.Context, j Job, as []RoleAssignment, principal string) ([]string, error) {
	var made []string
	for _, a := range as {
		a.ID, a.PrincipalID, a.PrincipalType = "", principal, "ServicePrincipal"
		k := a.key()
		if slices.Contains(j.Granted, k) || slices.Contains(j.Granted, goneKey(k)) || slices.Contains(made, k) {
			continue
		}
		err := r.s.roles.Assign(ctx, a)
		switch {
		case KindOf(err) == KindNotFound:
			// A scope that no longer exists needs no grant; verify knows.
			made = append(made, goneKey(k))
		case err != nil:
			return made, fmt.Errorf("assign %s: %w", a.describe(), err)
		default:
			made = append(made, k)
		}
	}
	return made, nil
}
