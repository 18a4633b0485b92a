package guard

import "time"

// MessageKind says what a queue message wakes.
type MessageKind string

const (
	// MessageJob wakes a remediation job.
	MessageJob MessageKind = "job"
	// MessageEvaluate re-evaluates a cluster after a burst of events.
	MessageEvaluate MessageKind = "evaluate"
)

// Message is a wake-up on the remediation queue. It carries no state: the
// receiver re-reads the records it names, so duplicates are harmless.
type Message struct {
	// ID is deterministic, so the queue's duplicate detection drops repeats.
	ID      string
	Kind    MessageKind
	Cluster ClusterID
	JobID   string
	// Seq is the job's WakeSeq for a timer wake, zero for a wake caused by
	// an event (approval, resolution), which always runs.
	Seq    int
	Reason string
	// NotBefore is when the message becomes visible; zero means at once.
	NotBefore time.Time
}
