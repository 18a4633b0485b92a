package guard

import (
	"context"
	"slices"
	"strings"
	"time"
)

// verify proves what the plan promised: the control plane uses its
// managed identity, the kubelet identity exists, each add-on the plan
// grants roles to has its identity. Then kubelet: succeeded when every
// pool moved, else the node image upgrades (enforce) or kubelet-pending.
func (r *run) verify(ctx context.Context, j Job, now time.Time) move {
	c := r.cluster
	if c == nil {
		got, err := r.s.clusters.GetCluster(ctx, j.Cluster)
		if err != nil {
			return r.failure(j, "read the cluster to verify", err, now)
		}
		c, r.cluster = &got, &got
	}
	var missing []string
	if !migrated(c, j.Plan) {
		missing = append(missing, "identity is "+c.IdentityType+" without the planned principal")
	}
	if c.Kubelet == nil {
		missing = append(missing, "no kubelet identity")
	}
	for _, key := range j.Plan.addonKeys() {
		if a, ok := c.Addon(key); ok && a.Enabled && a.Identity == nil {
			missing = append(missing, "add-on "+key+" has no identity")
		}
	}
	// Healthy, not only migrated: the cluster and every pool finished
	// their last operation.
	if !succeeded(c.ProvisioningState) {
		missing = append(missing, "the cluster's provisioningState is "+c.ProvisioningState)
	}
	for _, p := range c.Pools {
		if !succeeded(p.ProvisioningState) {
			missing = append(missing, "pool "+p.Name+"'s provisioningState is "+p.ProvisioningState)
		}
	}
	if len(missing) == 0 {
		// Every role the plan grants is there, on its principal: a grant
		// answered but not made, or removed since, is not "succeeded".
		sets, what, err := grantSets(c, j.Plan)
		if err != nil {
			return r.failure(j, what, err, now)
		}
		for _, st := range sets {
			lost, err := r.missingGrants(ctx, j, st)
			if err != nil {
				return r.failure(j, "read the role assignments of the "+st.what+" identity", err, now)
			}
			missing = append(missing, lost...)
		}
	}
	if len(missing) > 0 {
		if n := j.Attempts + 1; busy(c.ProvisioningState) && n <= maxAttempts {
			return move{state: j.State, outcome: "the cluster is " + c.ProvisioningState + "; verifying again shortly", wait: now.Add(time.Minute),
				err: "verify: the cluster is " + c.ProvisioningState, edit: func(j *Job) { j.Attempts = n }}
		}
		return move{state: JobFailed, outcome: "failed: verification: " + strings.Join(missing, "; "), alert: AlertFailed}
	}
	k := j.Kubelet
	var keep func(*Job)
	if k == nil {
		// Claimed before pools were recorded: count every pool as pending.
		k = newKubeletMove(*c, now)
		keep = func(j *Job) { j.Kubelet = k }
	}
	pending := k.onServicePrincipal(*c)
	var mv move
	switch {
	case len(pending) == 0:
		mv = move{state: JobSucceeded, alert: AlertSucceeded, outcome: succeededOutcome + r.s.deleteAdvice(ctx, j.Cluster, j.Plan.ServicePrincipal.AppID)}
	case r.s.nodeImages == NodeImagesEnforce && j.Mode == ModeEnforce && len(untried(pending, j.NoNewerImage)) > 0:
		mv = move{state: JobUpgradingNodeImages, outcome: "the control plane and add-ons use managed identities; upgrading the node image of pool(s) " +
			strings.Join(untried(pending, j.NoNewerImage), ", ") + ", one at a time, so kubelet moves too"}
	default:
		mv = kubeletPending(j, pending, "")
	}
	if keep != nil {
		mv = mv.then(keep)
	}
	return mv
}

// missingGrants names the assignments of st its principal does not hold,
// leaving out those whose scope was gone when granted.
func (r *run) missingGrants(ctx context.Context, j Job, st grantSet) ([]string, error) {
	if len(st.as) == 0 {
		return nil, nil
	}
	var subs []string
	for _, a := range st.as {
		if parts := strings.Split(strings.Trim(a.Scope, "/"), "/"); len(parts) >= 2 {
			subs = append(subs, "/subscriptions/"+parts[1])
		}
	}
	slices.Sort(subs)
	held, err := r.s.roles.AssignmentsOf(ctx, st.principal, slices.Compact(subs))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range st.as {
		a.ID, a.PrincipalID = "", st.principal
		if slices.Contains(j.Granted, goneKey(a.key())) {
			continue
		}
		if !slices.ContainsFunc(held, func(h RoleAssignment) bool {
			return strings.EqualFold(h.Scope, a.Scope) && roleGUID(h.RoleDefinitionID) == roleGUID(a.RoleDefinitionID)
		}) {
			out = append(out, a.describe()+" is missing on the "+st.what+" identity")
		}
	}
	return out, nil
}

// succeeded reports whether a provisioning state says the last operation
// succeeded; an empty one (a body that leaves it out) is taken as such.
func succeeded(state string) bool { return state == "" || strings.EqualFold(state, "Succeeded") }

const succeededOutcome = "succeeded: the control plane, add-ons and kubelet use managed identities; "

// untried are the pools of pending not known to lack a newer node image.
func untried(pending, noNewer []string) []string {
	return slices.DeleteFunc(slices.Clone(pending), func(p string) bool { return slices.Contains(noNewer, p) })
}

// kubeletPending ends the job with kubelet still on the service principal
// on the pending pools, saying why first and what a person runs.
func kubeletPending(j Job, pending []string, why string) move {
	sp := j.Plan.ServicePrincipal.AppID
	var cmds []string
	for _, p := range untried(pending, j.NoNewerImage) {
		cmds = append(cmds, nodeImageCommand(j.Cluster, p))
	}
	outcome := "kubelet-pending: " + why + "the control plane and add-ons use managed identities; kubelet still uses service principal " + sp +
		" on pool(s) " + strings.Join(pending, ", ") + " until each gets a node image upgrade, which reimages its nodes"
	if len(cmds) > 0 {
		outcome += ": run " + strings.Join(cmds, "; ")
	}
	if stuck := intersect(pending, j.NoNewerImage); len(stuck) > 0 {
		outcome += "; pool(s) " + strings.Join(stuck, ", ") + " already run the latest node image: upgrade them when AKS releases a newer one"
	}
	outcome += "; keep service principal " + sp + " until then"
	return move{state: JobKubeletPending, outcome: outcome, alert: AlertKubeletPending}
}

func intersect(a, b []string) []string {
	return slices.DeleteFunc(slices.Clone(a), func(p string) bool { return !slices.Contains(b, p) })
}
