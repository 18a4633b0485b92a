package guard

import (
	"context"
	"fmt"
	"time"
)

// regrant gives the new identities the service principal's roles.
func (r *run) regrant(ctx context.Context, j Job, now time.Time) move {
	if r.cluster == nil {
		c, err := r.s.clusters.GetCluster(ctx, j.Cluster)
		if err != nil {
			return r.failure(j, "read the cluster after the update", err, now)
		}
		r.cluster = &c
	}
	c, p := r.cluster, j.Plan
	controlPlane := c.PrincipalID
	if p.Target.Type == "UserAssigned" {
		controlPlane = p.TargetPrincipal.ObjectID
	}
	switch {
	case controlPlane == "" && len(p.ControlPlane) > 0:
		return r.failure(j, "re-grant roles", Errorf(KindTransient, "the cluster's identity has no principal id yet"), now)
	case c.Kubelet == nil && len(p.Kubelet) > 0:
		return r.failure(j, "re-grant AcrPull", Errorf(KindTransient, "the cluster has no kubelet identity yet"), now)
	}
	made, err := r.grant(ctx, j, p.ControlPlane, controlPlane)
	if err == nil && len(p.Kubelet) > 0 {
		var more []string
		more, err = r.grant(ctx, j, p.Kubelet, c.Kubelet.ObjectID)
		made = append(made, more...)
	}
	if err != nil {
		return withGranted(r.failure(j, "re-grant roles", err, now), made)
	}
	return withGranted(move{state: JobVerifying, outcome: fmt.Sprintf("re-granted %d role assignment(s); verifying", len(p.ControlPlane)+len(p.Kubelet))}, made)
}
