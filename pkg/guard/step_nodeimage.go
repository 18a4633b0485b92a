package guard

import (
	"context"
	"slices"
	"strings"
	"time"
)

// upgradeNodeImages moves kubelet to its identity pool by pool: one node
// image upgrade at a time, each in the node OS maintenance window, each
// after the approval and the finding are checked on a fresh read. A pool
// that already runs the latest image is reported, not retried.
func (r *run) upgradeNodeImages(ctx context.Context, j Job, now time.Time) move {
	if j.PoolToken != "" {
		st, err := r.s.clusters.ResumeNodeImageUpgrade(ctx, j.Cluster, j.PoolUpgrading, j.PoolToken, r.s.pollWait)
		return r.afterNodeImage(j, j.PoolUpgrading, st, err, now)
	}
	if !r.fresh {
		if err := r.observe(ctx); err != nil {
			return r.failure(j, "read the cluster before a node image upgrade", err, now)
		}
	}
	c := r.cluster
	if c == nil {
		return move{state: JobCancelled, outcome: "cancelled: the cluster was deleted during its node image upgrades", alert: AlertCancelled}
	}
	pending := untried(j.Kubelet.onServicePrincipal(*c), j.NoNewerImage)
	if len(pending) == 0 {
		return r.verify(ctx, j, now)
	}
	if why := r.nodeUpgradesStopped(j); why != "" {
		return kubeletPending(j, j.Kubelet.onServicePrincipal(*c), "node image upgrades stopped: "+why+"; ")
	}
	if mv, wait := r.windowShut(ctx, j, now, NodeOSWindowAt, JobUpgradingNodeImages); wait {
		return mv
	}
	pool := pending[0]
	latest, err := r.s.clusters.LatestNodeImage(ctx, j.Cluster, pool)
	if err != nil {
		return r.failure(j, "read the node images available to pool "+pool, err, now)
	}
	if current := poolImage(*c, pool); latest == "" || latest == current {
		return move{state: JobUpgradingNodeImages, outcome: "pool " + pool + " runs the latest node image (" + current + "): no newer one to move its kubelet with",
			edit: func(j *Job) { j.NoNewerImage = append(j.NoNewerImage, pool) }}
	}
	st, err := r.s.clusters.StartNodeImageUpgrade(ctx, j.Cluster, pool, r.s.pollWait)
	if err != nil && !st.Sent {
		return r.failure(j, "start the node image upgrade of pool "+pool, err, now)
	}
	return r.afterNodeImage(j, pool, st, err, now)
}

// afterNodeImage moves on from the node image upgrade of pool, started or
// polled.
func (r *run) afterNodeImage(j Job, pool string, st UpdateStatus, err error, now time.Time) move {
	done := func(j *Job) { j.PoolToken, j.PoolUpgrading = "", "" }
	polling := func(j *Job) { j.PoolToken, j.PoolUpgrading = st.ResumeToken, pool }
	switch {
	case err == nil && st.Done:
		r.cluster, r.fresh = nil, false // the next pool starts from a fresh read
		return move{state: JobUpgradingNodeImages, outcome: "node image upgraded on pool " + pool, edit: done}
	case err == nil:
		return move{state: JobUpgradingNodeImages, outcome: "AKS is upgrading the node image of pool " + pool + "; polling again at " + stamp(now.Add(pollEvery)),
			wait: now.Add(pollEvery), edit: polling}
	case st.Done:
		return move{state: JobFailed, outcome: "failed: the node image upgrade of pool " + pool + " failed; check the pool, then approve again to resume",
			err: "upgrade the node image of pool " + pool + ": " + err.Error(), alert: AlertFailed, edit: done}
	case st.ResumeToken != "":
		return r.failure(j, "poll the node image upgrade of pool "+pool, err, now).then(polling)
	}
	// Sent and not clearly answered: the next read of the pool's image
	// tells whether it took; an upgrade sent again is harmless.
	return r.failure(j, "upgrade the node image of pool "+pool, err, now).then(done)
}

// nodeUpgradesStopped says why no further node image may be upgraded: the
// approval, the finding, the mode and the scope are checked as before the
// update, since each upgrade reimages a pool's nodes.
func (r *run) nodeUpgradesStopped(j Job) string {
	f := r.finding
	switch {
	case f.JobID != j.ID:
		return "the finding moved on to job " + f.JobID
	case f.State != FindingKubeletPending && f.State != FindingOpen:
		return "the finding is " + string(f.State)
	case f.Approval.held():
		return "the approval is being verified again"
	case !f.Approval.approved():
		return "the approval was removed (" + approvalText(f.Approval) + ")"
	case r.s.modeFor(j.Cluster) != ModeEnforce:
		return "the guard runs dry here now"
	}
	return ""
}

// poolImage is the node image of the pool named name, or "".
func poolImage(c Cluster, name string) string {
	i := slices.IndexFunc(c.Pools, func(p Pool) bool { return strings.EqualFold(p.Name, name) })
	if i < 0 {
		return ""
	}
	return c.Pools[i].NodeImageVersion
}
