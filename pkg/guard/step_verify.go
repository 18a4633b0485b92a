package guard

import (
	"context"
	"strings"
	"time"
)

// verify proves the result: the control plane uses the managed identity and
// the kubelet identity exists.
func (r *run) verify(ctx context.Context, j Job, now time.Time) move {
	c := r.cluster
	if c == nil {
		got, err := r.s.clusters.GetCluster(ctx, j.Cluster)
		if err != nil {
			return r.failure(j, "read the cluster to verify", err, now)
		}
		c = &got
	}
	var missing []string
	if !c.usesMSI() {
		missing = append(missing, "servicePrincipalProfile.clientId is "+c.ServicePrincipalClientID+", not msi")
	}
	if !migrated(c, j.Plan) {
		missing = append(missing, "identity is "+c.IdentityType+" without the planned principal")
	}
	if c.Kubelet == nil {
		missing = append(missing, "no kubelet identity")
	}
	if len(missing) == 0 {
		return move{state: JobSucceeded, outcome: "succeeded: the control plane uses its " + j.Plan.Target.Type + " identity; delete service principal " +
			j.Plan.ServicePrincipal.AppID + " once nothing else uses it", alert: AlertSucceeded}
	}
	if n := j.Attempts + 1; busy(c.ProvisioningState) && n <= maxAttempts {
		return move{state: j.State, outcome: "the cluster is " + c.ProvisioningState + "; verifying again shortly", wait: now.Add(time.Minute),
			err: "verify: the cluster is " + c.ProvisioningState, edit: func(j *Job) { j.Attempts = n }}
	}
	return move{state: JobFailed, outcome: "failed: verification: " + strings.Join(missing, "; "), alert: AlertFailed}
}
