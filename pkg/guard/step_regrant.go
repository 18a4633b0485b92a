package guard

import (
	"context"
	"fmt"
	"time"
)

// grantSet is role assignments and the principal they go to.
type grantSet struct {
	what      string
	as        []RoleAssignment
	principal string
}

// grantSets splits the plan's grants by the principal each goes to: the
// control plane's, the kubelet identity's, each add-on's own (which AKS
// creates with the update). An identity not there yet fails with a
// transient error, and what names the step.
func grantSets(c *Cluster, p *Plan) (sets []grantSet, what string, err error) {
	controlPlane := c.PrincipalID
	if p.Target.Type == "UserAssigned" {
		controlPlane = p.TargetPrincipal.ObjectID
	}
	switch {
	case controlPlane == "" && len(p.ControlPlane) > 0:
		return nil, "re-grant roles", Errorf(KindTransient, "the cluster's identity has no principal id yet")
	case c.Kubelet == nil && len(p.Kubelet) > 0:
		return nil, "re-grant AcrPull", Errorf(KindTransient, "the cluster has no kubelet identity yet")
	}
	sets = []grantSet{{"control plane", p.ControlPlane, controlPlane}}
	if c.Kubelet != nil {
		sets = append(sets, grantSet{"kubelet", p.Kubelet, c.Kubelet.ObjectID})
	}
	for _, key := range p.addonKeys() {
		a, ok := c.Addon(key)
		switch {
		case !ok || !a.Enabled:
			continue // turned off since the plan: nothing to grant
		case a.Identity == nil || a.Identity.ObjectID == "":
			return nil, "grant the " + key + " add-on its roles", Errorf(KindTransient, "the add-on has no identity yet")
		}
		sets = append(sets, grantSet{"add-on " + key, p.Addons[key], a.Identity.ObjectID})
	}
	return sets, "", nil
}

// regrant gives the new identities the service principal's roles.
func (r *run) regrant(ctx context.Context, j Job, now time.Time) move {
	if r.cluster == nil {
		c, err := r.s.clusters.GetCluster(ctx, j.Cluster)
		if err != nil {
			return r.failure(j, "read the cluster after the update", err, now)
		}
		r.cluster = &c
	}
	sets, what, err := grantSets(r.cluster, j.Plan)
	if err != nil {
		return r.failure(j, what, err, now)
	}
	var made []string
	count := 0
	for _, st := range sets {
		more, err := r.grant(ctx, j, st.as, st.principal)
		made = append(made, more...)
		if err != nil {
			return withGranted(r.failure(j, "grant the "+st.what+" identity its roles", err, now), made)
		}
		count += len(st.as)
	}
	return withGranted(move{state: JobVerifying, outcome: fmt.Sprintf("granted %d role assignment(s) to the new identities; verifying", count)}, made)
}
