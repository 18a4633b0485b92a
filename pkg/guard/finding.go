package guard

import "time"

// FindingState is where a cluster stands with the guard.
type FindingState string

const (
	// FindingClear: evaluated and never flagged (compliant or unknown).
	FindingClear FindingState = "clear"
	// FindingOpen: flagged; a remediation job exists.
	FindingOpen FindingState = "open"
	// FindingResolved: was open; the cluster was fixed or deleted.
	FindingResolved FindingState = "resolved"
	// FindingExempt: a person exempted the cluster with the approval tag.
	FindingExempt FindingState = "exempt"
	// FindingDeleted: the cluster is gone and was not open.
	FindingDeleted FindingState = "deleted"
	// FindingKubeletPending: the control plane uses its managed identity;
	// kubelet may still use the service principal on some pools.
	FindingKubeletPending FindingState = "kubelet-pending"
)

// Finding is the guard's record of one cluster: its last verdict and where
// it stands. There is one per cluster, updated with ETags.
type Finding struct {
	Cluster    ClusterID
	Verdict    Verdict
	Reasons    []string
	SPClientID string
	State      FindingState
	// Resolution says why a finding was closed or exempted.
	Resolution    string
	FirstSeen     time.Time
	LastEvaluated time.Time
	FlaggedAt     time.Time
	ClosedAt      time.Time
	// FlaggedWriteAt is, for a cluster flagged the first time the guard saw
	// it, through its event, when that write happened; zero otherwise
	// (first seen by a sweep or a timer). FlaggedAt minus it is how fast
	// a non-compliant creation was caught.
	FlaggedWriteAt time.Time
	// JobID is the remediation job opened when the cluster was flagged.
	JobID string
	// Approval is the approval tag as last seen, nil before it was ever set.
	Approval *Approval
	// RecheckAt is when an already scheduled re-evaluation runs; events
	// arriving before it are coalesced into it.
	RecheckAt time.Time
	// Kubelet records when the control plane was seen moved and each
	// pool's node image then; nil before.
	Kubelet *KubeletMove
	// RecentEvents are the ids of the last events that caused a read, so a
	// repeated delivery is dropped without one.
	RecentEvents []string
	// Outbox holds effects decided with this state and not yet carried out.
	Outbox []Effect
	// ETag is the store's version of the record; empty for a new finding.
	ETag string
}
