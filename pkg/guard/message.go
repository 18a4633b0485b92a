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
	// an event (approval, resolution), which always runs. For an evaluate
	// message it counts the tries after a read failed for now.
	Seq    int
	Reason string
	// NotBefore is when the message becomes visible; zero means at once.
	NotBefore time.Time
}

// MessageBody is the JSON body of a queue message: the one wire format
// between whoever sends a Message and the handler that receives it. The
// receiver decodes it, parses ClusterID strictly and re-reads the records it
// names. The message ID and NotBefore travel as the transport's own message
// properties, not in the body.
type MessageBody struct {
	Kind MessageKind `json:"kind"`
	// ClusterID is the canonical ARM resource ID of the cluster.
	ClusterID string `json:"clusterId"`
	JobID     string `json:"jobId,omitempty"`
	Seq       int    `json:"seq,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// Body returns the wire form of m.
func (m Message) Body() MessageBody {
	return MessageBody{Kind: m.Kind, ClusterID: m.Cluster.String(), JobID: m.JobID, Seq: m.Seq, Reason: m.Reason}
}
