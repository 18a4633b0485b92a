package guard

import (
	"slices"
	"time"
)

// JobState is a remediation job's place in its state machine.
type JobState string

const (
	JobAwaitingApproval JobState = "awaiting-approval"
	JobPlanned          JobState = "planned"
	JobWaitingWindow    JobState = "waiting-window"
	JobGrantingRoles    JobState = "granting-roles"
	JobUpdating         JobState = "updating"
	JobRegranting       JobState = "regranting"
	JobVerifying        JobState = "verifying"
	JobSucceeded        JobState = "succeeded"
	JobDryRunComplete   JobState = "dry-run-complete"
	// JobUpgradingNodeImages upgrades each pool's node image, one at a
	// time, so kubelet moves too (AKSGUARD_NODE_IMAGE_UPGRADE=enforce).
	JobUpgradingNodeImages JobState = "upgrading-node-images"
	// JobKubeletPending: the control plane and add-ons use managed
	// identities; kubelet still uses the service principal on some pools
	// until each gets a node image upgrade.
	JobKubeletPending JobState = "kubelet-pending"
	JobBlocked        JobState = "blocked"
	JobFailed         JobState = "failed"
	JobCancelled      JobState = "cancelled"
)

// Terminal reports whether the job has finished.
func (s JobState) Terminal() bool { return slices.Contains(TerminalStates, s) }

// TerminalStates are the states a job ends in.
var TerminalStates = []JobState{JobSucceeded, JobDryRunComplete, JobBlocked, JobFailed, JobCancelled, JobKubeletPending}

// Job is one remediation of one cluster. Its state lives in this record,
// updated with ETags; Service Bus messages only wake it.
type Job struct {
	Cluster   ClusterID
	ID        string
	State     JobState
	CreatedAt time.Time
	UpdatedAt time.Time
	// NextWake is when the pending timer message arrives; WakeSeq numbers
	// it. A timer message whose sequence is not WakeSeq is stale.
	NextWake time.Time
	WakeSeq  int
	// Attempts counts retries of the current step after transient errors.
	Attempts int
	// Mode is the mode the job was planned in.
	Mode Mode
	// Approval is the approval the job acted on.
	Approval *Approval
	Plan     *Plan
	// ResumeToken continues polling the AKS update in a later invocation.
	ResumeToken string
	// UpdateStartedAt is when the job claimed the update: its PUT may be
	// on its way from then on.
	UpdateStartedAt time.Time
	// UpdateETag is the If-Match eTag of a PUT that may have reached ARM;
	// empty while none has. Set, the job never sends another PUT on its
	// own, unless the cluster still has that eTag (the PUT never applied):
	// a second one needs a person's new approval.
	UpdateETag string
	// Kubelet records each pool's node image when the job claimed the
	// update, to tell which pools moved since.
	Kubelet *KubeletMove
	// NoNewerImage are pools whose node image could not be upgraded: no
	// newer image was available.
	NoNewerImage []string
	// PoolToken continues polling a pool's node image upgrade; PoolUpgrading
	// names the pool.
	PoolToken     string
	PoolUpgrading string
	// Replans counts plans redone because the cluster changed under the job.
	Replans int
	// ApprovedPlan is the digest of the plan an approver could see when
	// approving (computed while the job waited), or of the plan made right
	// after the approval when none was shown. The update goes out only
	// while the plan still has it.
	ApprovedPlan string
	// Granted lists the role assignments already granted to the new
	// identities, by RoleAssignment key.
	Granted []string
	// Outcome says in words how the job ended, or why it waits.
	Outcome string
	// Error keeps the service error that failed or blocked the job.
	Error  string
	Outbox []Effect
	ETag   string
}

// committed reports whether the job may have changed the cluster: a PUT
// of its own may have reached ARM. From then on it finishes what it
// started, whatever happens to the approval; before, it can still be
// cancelled.
func (j Job) committed() bool {
	return j.UpdateETag != "" || j.State == JobRegranting || j.State == JobVerifying || j.State == JobUpgradingNodeImages
}
