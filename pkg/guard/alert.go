package guard

import "time"

// AlertType is the CloudEvents type of an alert. Subscribers filter on it.
type AlertType string

const (
	AlertFlagged  AlertType = "aksguard.cluster.flagged"
	AlertResolved AlertType = "aksguard.cluster.resolved"
	AlertExempted AlertType = "aksguard.cluster.exempted"
	// AlertExemptionExpired: an exemption with an end date ended and the
	// cluster is flagged again.
	AlertExemptionExpired AlertType = "aksguard.cluster.exemption-expired"
	// AlertClusterKubeletPending: the control plane moved to its managed
	// identity (by the guard or by hand); kubelet has yet to.
	AlertClusterKubeletPending AlertType = "aksguard.cluster.kubelet-pending"

	AlertApproved AlertType = "aksguard.remediation.approved"
	AlertRejected AlertType = "aksguard.remediation.rejected"
	// AlertUnverified: Azure's change history did not say, within the
	// wait, who set the approval tag; nothing runs until it is set again.
	AlertUnverified AlertType = "aksguard.remediation.unverified"
	AlertPlanned    AlertType = "aksguard.remediation.planned"
	AlertStarted    AlertType = "aksguard.remediation.started"
	AlertSucceeded  AlertType = "aksguard.remediation.succeeded"
	AlertFailed     AlertType = "aksguard.remediation.failed"
	// AlertNeedsAttention: the job stopped (failed or blocked) after its
	// update may have reached the cluster — the cluster changed and the
	// job did not finish. A person must look now; it replaces failed or
	// blocked for such a job, so it can be routed apart.
	AlertNeedsAttention AlertType = "aksguard.remediation.needs-attention"
	AlertBlocked        AlertType = "aksguard.remediation.blocked"
	AlertCancelled      AlertType = "aksguard.remediation.cancelled"
	// AlertKubeletPending: the job ended with the control plane and
	// add-ons migrated and kubelet still on the service principal on some
	// pools, saying what to run.
	AlertKubeletPending AlertType = "aksguard.remediation.kubelet-pending"
)

// Alert is an event for alerting subscriptions. Its ID is deterministic, so
// a subscriber can drop the repeat of a retried publish.
type Alert struct {
	ID      string
	Type    AlertType
	Cluster ClusterID
	Time    time.Time
	Data    AlertData
}

// AlertData is the CloudEvent's data, the contract with subscribers.
type AlertData struct {
	ClusterID string   `json:"clusterId"`
	Summary   string   `json:"summary"`
	Verdict   Verdict  `json:"verdict,omitempty"`
	Reasons   []string `json:"reasons,omitempty"`
	Finding   string   `json:"finding,omitempty"`
	JobID     string   `json:"jobId,omitempty"`
	JobState  string   `json:"jobState,omitempty"`
	Actor     string   `json:"actor,omitempty"`
	Error     string   `json:"error,omitempty"`
	FollowUp  string   `json:"followUp,omitempty"`
}
