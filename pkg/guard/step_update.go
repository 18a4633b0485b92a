package guard

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// migrated reports whether the cluster's control plane already uses the
// plan's identity. servicePrincipalProfile.clientId may still name the
// service principal then, until kubelet moves (not documented either way).
func migrated(c *Cluster, p *Plan) bool {
	if c == nil || !strings.EqualFold(c.IdentityType, p.Target.Type) {
		return false
	}
	if p.Target.Type == "UserAssigned" {
		for _, id := range c.UserAssignedIdentities {
			if strings.EqualFold(id, p.Target.UserAssigned) {
				return true
			}
		}
		return false
	}
	return c.PrincipalID != ""
}

// update sends the PUT that moves the control plane to the managed
// identity, then polls it, a bounded while per invocation. Until a PUT may
// have reached ARM the job may still be cancelled or planned again; from
// then on it only goes forward, and never sends a second PUT on its own.
func (r *run) update(ctx context.Context, j Job, now time.Time) move {
	c, p := r.cluster, j.Plan
	switch {
	case c == nil:
		return move{state: JobCancelled, outcome: "cancelled: cluster deleted during the update", alert: AlertCancelled}
	case migrated(c, p):
		return move{state: JobRegranting, outcome: "the cluster uses its managed identity; re-granting roles", edit: clearUpdate}
	case j.ResumeToken != "":
		if now.Sub(j.UpdateStartedAt) > updateTimeout {
			return move{state: JobFailed, outcome: "failed: AKS did not finish the update within " + updateTimeout.String() +
				"; approve again to resume", alert: AlertFailed}
		}
		st, err := r.s.clusters.ResumeIdentityUpdate(ctx, j.Cluster, j.ResumeToken, r.s.pollWait)
		st.Sent = true
		return r.afterUpdate(ctx, j, st, err, now)
	case busy(c.ProvisioningState):
		// An operation runs: ours, if its answer was lost, or someone
		// else's. Either way, wait and read again.
		if j.UpdateETag != "" && now.Sub(j.UpdateStartedAt) > updateTimeout {
			return move{state: JobFailed, outcome: "failed: the cluster has been " + c.ProvisioningState + " for more than " + updateTimeout.String() +
				" since the update was sent; approve again to resume", alert: AlertFailed}
		}
		return move{state: j.State, outcome: "the cluster is " + c.ProvisioningState + "; reading it again at " + stamp(now.Add(pollEvery)),
			wait: now.Add(pollEvery)}
	case j.UpdateETag != "" && c.ETag != j.UpdateETag:
		// A PUT of this job may have reached ARM, and the cluster changed
		// since: it is neither migrated nor busy, so the AKS operation
		// failed, or someone else changed the cluster. Either way a second
		// PUT needs a person.
		return move{state: JobFailed, alert: AlertFailed,
			outcome: "failed: the update was sent but the cluster does not use its managed identity (provisioningState " + c.ProvisioningState +
				"): the AKS operation failed or was overtaken; check the cluster, then approve again (remove the tag " + ApprovalTag + " and set it again) to send it again",
			err: "update sent with If-Match " + j.UpdateETag + "; the cluster's eTag is now " + c.ETag + ", provisioningState " + c.ProvisioningState}
	case !r.claimed && j.UpdateETag == "" && !j.UpdateStartedAt.IsZero() && now.Before(j.UpdateStartedAt.Add(r.claimTTL())):
		// Another invocation claimed the update moments ago.
		return move{state: j.State, outcome: "another worker is sending the update", wait: j.UpdateStartedAt.Add(r.claimTTL())}
	case !r.claimed:
		// No PUT of this job applied (the cluster is neither migrated nor
		// busy, and where one was sent its eTag is unchanged): check
		// everything again on a fresh read, then claim. The claim is saved
		// with the job's ETag, so of two racing workers one sends the PUT.
		if !r.fresh {
			if err := r.observe(ctx); err != nil {
				return r.failure(j, "read the cluster before the update", err, now)
			}
			return r.update(ctx, j, now)
		}
		if mv, stop := r.gates(ctx, j, now); stop {
			return mv
		}
		return move{state: JobUpdating, outcome: "sending the update", claim: true, edit: claimUpdate(now, r.cluster)}
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < minDeadline {
		return unclaimed(move{state: j.State, outcome: "too little of this invocation is left to send the update; continuing in the next",
			wait: now.Add(time.Second)})
	}
	if c.ETag != p.ClusterETag {
		return r.replan(ctx, j, *c, "the cluster changed since it was planned", now)
	}
	st, err := r.s.clusters.StartIdentityUpdate(ctx, j.Cluster, IdentityUpdate{
		ETag: c.ETag, Target: p.Target, Tags: map[string]string{ApprovalTag: r.finding.Approval.Value},
	}, r.s.pollWait)
	switch {
	case !st.Sent && KindOf(err) == KindConflict:
		return r.afterConflict(ctx, j, err, now)
	case !st.Sent:
		// Refused: nothing changed, and the next try claims again.
		return unclaimed(r.failure(j, "update the cluster's identity", err, now))
	}
	return r.afterUpdate(ctx, j, st, err, now).then(func(j *Job) { j.UpdateETag = c.ETag })
}

// claimUpdate records the claim: the PUT may be on its way from now. A PUT
// sent earlier did not apply (the cluster's eTag is still the one it was
// sent with), so it is forgotten. Each pool's node image as read for the
// claim is kept, to tell later which pools' kubelet moved.
func claimUpdate(now time.Time, c *Cluster) func(*Job) {
	return func(j *Job) {
		j.UpdateStartedAt, j.UpdateETag = now, ""
		if c != nil {
			j.Kubelet = newKubeletMove(*c, now)
		}
	}
}

// unclaimed gives the claim on the update up with mv: no PUT of this job is
// on its way.
func unclaimed(mv move) move {
	return mv.then(func(j *Job) { j.UpdateStartedAt = time.Time{} })
}

// afterConflict records a fresh read when ARM refused the PUT for its eTag,
// or the cluster no longer carried the approval: someone changed the
// cluster right before the update. The PUT was not sent more than once (the
// SDK does not retry it), so it did not apply: the job decides again on
// what it read, which may cancel it.
func (r *run) afterConflict(ctx context.Context, j Job, conflict error, now time.Time) move {
	if err := r.observe(ctx); err != nil {
		return unclaimed(r.failure(j, "read the cluster after a refused update", err, now))
	}
	c := r.cluster
	if c == nil {
		return move{state: JobCancelled, outcome: "cancelled: cluster deleted right before the update", alert: AlertCancelled}
	}
	// What the read recorded decides: a removed approval, an exemption, a
	// migration by someone else cancel the job.
	if stop, mv := r.stillWanted(j); stop {
		return unclaimed(mv)
	}
	if busy(c.ProvisioningState) {
		return unclaimed(move{state: j.State, outcome: "the cluster is " + c.ProvisioningState + " with someone else's operation; reading it again at " +
			stamp(now.Add(pollEvery)), wait: now.Add(pollEvery)})
	}
	return r.replan(ctx, j, *c, "the cluster changed right before the update ("+conflict.Error()+")", now)
}

// claimTTL is how long a claim on the update holds: a PUT and one bounded
// poll, with room to spare.
func (r *run) claimTTL() time.Duration { return r.s.pollWait + 2*time.Minute }

// clearUpdate forgets a finished update's polling state.
func clearUpdate(j *Job) { j.ResumeToken = "" }

// busy reports whether a provisioning state means an operation runs.
func busy(state string) bool {
	switch strings.ToLower(state) {
	case "", "succeeded", "failed", "canceled", "cancelled":
		return false
	}
	return true
}

// afterUpdate moves on from a PUT that was sent, or a poll of its
// operation.
func (r *run) afterUpdate(ctx context.Context, j Job, st UpdateStatus, err error, now time.Time) move {
	switch {
	case err == nil && st.Done:
		r.cluster = nil // read before the update; the re-grant reads it again
		return move{state: JobRegranting, outcome: "AKS finished the update; re-granting roles", edit: clearUpdate}
	case err == nil:
		return move{state: JobUpdating, outcome: "AKS is updating the cluster; polling again at " + stamp(now.Add(pollEvery)),
			wait: now.Add(pollEvery), edit: func(j *Job) { j.ResumeToken = st.ResumeToken }}
	case st.Done:
		// The AKS operation itself failed: recorded, audited and alerted;
		// only a person's new approval sends the update again.
		msg := "update the cluster's identity: " + err.Error()
		return move{state: JobFailed, outcome: "failed: the AKS operation failed; check the cluster, then approve again (remove the tag " +
			ApprovalTag + " and set it again) to resume", err: msg, alert: AlertFailed, edit: clearUpdate}
	case st.ResumeToken != "" && KindOf(err) == KindNotFound:
		// ARM no longer knows the operation: see where the cluster stands.
		pre, rerr := r.s.readCluster(ctx, j.Cluster)
		if rerr == nil && pre.cluster == nil {
			return move{state: JobCancelled, outcome: "cancelled: cluster deleted during the update", alert: AlertCancelled}
		}
		return move{state: JobUpdating, outcome: "ARM no longer knows the update's operation (" + err.Error() + "); reading the cluster at " + stamp(now.Add(pollEvery)),
			err: err.Error(), wait: now.Add(pollEvery), edit: clearUpdate}
	case st.ResumeToken != "":
		// A failed poll: the operation may still run.
		return r.failure(j, "poll the update", err, now).then(func(j *Job) { j.ResumeToken = st.ResumeToken })
	}
	// Sent, and answered with a 5xx or not at all: whether ARM took the
	// PUT shows in the cluster, read again after a while. A PUT that never
	// applies is sent again (the cluster keeps its eTag), a bounded number
	// of times.
	msg := "update the cluster's identity: " + err.Error()
	n := j.Attempts + 1
	if n > maxAttempts {
		return move{state: JobFailed, outcome: "failed: the update was sent " + strconv.Itoa(n) + " times without a clear answer; check the cluster, then approve again (remove the tag " +
			ApprovalTag + " and set it again) to resume", err: msg, alert: AlertFailed}
	}
	at := now.Add(retryWait(err, n))
	return move{state: JobUpdating, outcome: "the update was sent and not clearly answered (" + err.Error() + "); reading the cluster at " +
		stamp(at) + " to see whether ARM took it", err: msg, wait: at, edit: func(j *Job) { j.Attempts = n }}
}
