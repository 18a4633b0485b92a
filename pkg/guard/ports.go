package guard

import (
	"context"
	"time"
)

// Clusters reads managed clusters from ARM.
type Clusters interface {
	ClusterUpdater
	// GetCluster returns the cluster as ARM returns it. A missing cluster is
	// an *Error of KindNotFound; other failures are classified *Errors.
	GetCluster(ctx context.Context, id ClusterID) (Cluster, error)
}

// Store keeps findings, jobs and the audit trail.
//
// Saves are optimistic: a record with an empty ETag is inserted and fails
// with KindConflict when it exists; otherwise it replaces the stored record
// only if the ETag still matches, and fails with KindConflict when it does
// not. A successful save sets the record's new ETag.
type Store interface {
	// Finding returns the cluster's finding, or an *Error of KindNotFound.
	Finding(ctx context.Context, id ClusterID) (Finding, error)
	SaveFinding(ctx context.Context, f *Finding) error
	// Findings returns every finding, in no particular order.
	Findings(ctx context.Context) ([]Finding, error)
	// FindingsIn returns the findings of clusters in subscription (every
	// subscription for "") in one of states (any state when none is
	// given), with a filtered query; like the other filtered queries it
	// leaves out a record it cannot decode and names it in a
	// *PartialError.
	FindingsIn(ctx context.Context, subscription string, states ...FindingState) ([]Finding, error)

	// Job returns one job, or an *Error of KindNotFound.
	Job(ctx context.Context, id ClusterID, jobID string) (Job, error)
	SaveJob(ctx context.Context, j *Job) error
	// Jobs returns every job, in no particular order.
	Jobs(ctx context.Context) ([]Job, error)
	// JobsIn returns the jobs in one of states, with a filtered query: what
	// it costs depends on those jobs, not on every job ever run.
	JobsIn(ctx context.Context, states ...JobState) ([]Job, error)
	// DueJobs returns the jobs not finished whose next wake-up is before t,
	// and the jobs with effects pending, with filtered queries.
	DueJobs(ctx context.Context, before time.Time) ([]Job, error)
	// PendingFindings returns the findings with effects pending, with a
	// filtered query.
	PendingFindings(ctx context.Context) ([]Finding, error)
	// The three queries leave out a record they cannot decode and return
	// the others with a *PartialError naming it.

	// JobCounts counts every job by state, reading only the state column.
	JobCounts(ctx context.Context) (map[JobState]int, error)
	// SaveKPIs keeps k as the snapshot of its day (UTC), replacing an
	// earlier one of the same day.
	SaveKPIs(ctx context.Context, k KPIs) error
	// KPIHistory returns the daily snapshots from since on, oldest first.
	KPIHistory(ctx context.Context, since time.Time) ([]KPIs, error)

	// AppendAudit adds e once: writing an entry whose key exists is a no-op.
	AppendAudit(ctx context.Context, e AuditEntry) error
	// Audit returns a cluster's entries, oldest first.
	Audit(ctx context.Context, id ClusterID) ([]AuditEntry, error)
}

// Queue sends wake-up messages to the remediation queue.
type Queue interface {
	// Send enqueues m, visible at m.NotBefore. Sending a message whose ID was
	// sent within the queue's duplicate-detection window is a no-op.
	Send(ctx context.Context, m Message) error
}

// Alerts publishes alert events.
type Alerts interface {
	Publish(ctx context.Context, a Alert) error
}
