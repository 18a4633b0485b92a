package tablestore

import (
	"context"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/aksguard/aksguard/pkg/guard"
)

// auditEntity is one audit entry as a row of the audit table.
type auditEntity struct {
	PartitionKey string // cluster's Key
	RowKey       string // guard.EncodeKey(entry key)
	clusterColumns
	Key    string
	At     string `json:",omitempty"`
	Action string
	Actor  string
	Cause  string
	Detail string
	JobID  string `json:"JobId"`
}

func auditToEntity(a guard.AuditEntry) *auditEntity {
	return &auditEntity{
		PartitionKey:   a.Cluster.Key(),
		RowKey:         guard.EncodeKey(a.Key),
		clusterColumns: clusterColumnsOf(a.Cluster),
		Key:            a.Key,
		At:             formatTime(a.At),
		Action:         a.Action,
		Actor:          a.Actor,
		Cause:          a.Cause,
		Detail:         a.Detail,
		JobID:          a.JobID,
	}
}

func (e *auditEntity) entry() (guard.AuditEntry, error) {
	var d decoder
	a := guard.AuditEntry{
		Cluster: e.id(),
		Key:     e.Key,
		At:      d.time("At", e.At),
		Action:  e.Action,
		Actor:   e.Actor,
		Cause:   e.Cause,
		Detail:  e.Detail,
		JobID:   e.JobID,
	}
	if d.err != nil {
		return guard.AuditEntry{}, guard.Errorf(guard.KindInvalid, "decode audit entry %s/%s: %w", e.PartitionKey, e.RowKey, d.err)
	}
	return a, nil
}

// AppendAudit adds a once with AddEntity: an entry whose key exists in the
// cluster's partition is left as it is and nil is returned. A column over
// 64 KiB is a KindInvalid naming it; other failures are classified
// *guard.Errors.
func (s *Store) AppendAudit(ctx context.Context, a guard.AuditEntry) error {
	op := "append audit entry " + a.Key + " of " + a.Cluster.String()
	if a.Cluster.IsZero() || a.Key == "" {
		return guard.Errorf(guard.KindInvalid, "%s: no cluster or no key", op)
	}
	_, err := save(ctx, s.audit, op, auditToEntity(a), "")
	if guard.CodeOf(err) == string(aztables.EntityAlreadyExists) {
		return nil
	}
	return err
}

// Audit returns the cluster's entries, oldest first (by Key), reading only
// the cluster's partition. A cluster without entries has none and no error.
// Failures are classified *guard.Errors.
func (s *Store) Audit(ctx context.Context, id guard.ClusterID) ([]guard.AuditEntry, error) {
	op := "list audit of " + id.String()
	if id.IsZero() {
		return nil, guard.Errorf(guard.KindInvalid, "%s: no cluster", op)
	}
	out, err := list(ctx, s.audit, op, partitionFilter(id.Key()), func(e *auditEntity, _ string) (guard.AuditEntry, error) { return e.entry() })
	if err != nil {
		return nil, err
	}
	// The service returns RowKey order; sort by Key, which EncodeKey may
	// reorder for unusual keys.
	slices.SortFunc(out, func(a, b guard.AuditEntry) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}
