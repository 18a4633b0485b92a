package guard

import "time"

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
	JobBlocked          JobState = "blocked"
	JobFailed           JobState = "failed"
	JobCancelled        JobState = "cancelled"
)

// Terminal reports whether the job has finished.
func (s JobState) Terminal() bool {
	switch s {
	case JobSucceeded, JobDryRunComplete, JobBlocked, JobFailed, JobCancelled:
		return true
	}
	return false
}

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
	Approval *Approval
	// Outcome says in words how the job ended, or why it waits.
	Outcome string
	// Error keeps the service error that failed or blocked the job.
	Error  string
	Outbox []Effect
	ETag   string
}

// Approval is the approval tag's value as the guard last read it.
type Approval struct {
	Value   string
	By      Actor
	At      time.Time
	EventID string
}
