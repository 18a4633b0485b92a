package guard

import "time"

// AuditEntry is one line of a cluster's append-only timeline: a decision,
// who or what caused it, and why.
type AuditEntry struct {
	Cluster ClusterID
	// Key orders the entries of a cluster by time and makes a retried write
	// of the same entry a no-op.
	Key    string
	At     time.Time
	Action string
	Actor  string
	Cause  string
	Detail string
	JobID  string
}
