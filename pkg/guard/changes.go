package guard

import (
	"context"
	"time"
)

// Change is one record of a cluster's change history, as Azure keeps it
// (Microsoft.Resources/changes, Azure Resource Graph's resourcechanges
// table): who changed the cluster, when, with which client and operation,
// and what the change did to one tag. It is Azure's own account of who set
// a tag, where an event only says that some tag changed.
type Change struct {
	// Type is "Create", "Update" or "Delete".
	Type string    `json:"changeType"`
	At   time.Time `json:"timestamp"`
	// CorrelationID ties the record to the request's events.
	CorrelationID string `json:"correlationId,omitempty"`
	// ChangedBy is a person's e-mail address, or the application id of a
	// service principal or managed identity; "System" or empty when no
	// principal made the change.
	ChangedBy string `json:"changedBy,omitempty"`
	// ChangedByType is "User", "Application", "ManagedIdentity" or
	// "Unknown".
	ChangedByType string `json:"changedByType,omitempty"`
	ClientType    string `json:"clientType,omitempty"`
	Operation     string `json:"operation,omitempty"`
	// Truncated: the record's list of changed properties was cut short,
	// so it may have changed the tag without saying so.
	Truncated bool `json:"isTruncated,omitempty"`
	// Tag is what the change did to the tag asked for; nil when the record
	// does not list it. Create and Delete records list no properties.
	Tag *TagChange `json:"tag,omitempty"`
}

// TagChange is a tag's value before and after a change; empty where the
// tag was absent.
type TagChange struct {
	Previous string `json:"previousValue"`
	New      string `json:"newValue"`
}

// Change types.
const (
	ChangeCreate = "Create"
	ChangeUpdate = "Update"
	ChangeDelete = "Delete"
)

// ChangeHistory reads Azure's change history of clusters.
type ChangeHistory interface {
	// TagChanges returns the cluster's change records that created or
	// deleted it, that changed the tag named tag, that are truncated, or
	// whose correlation id is correlationID (when not empty), newest
	// first. Azure shows a record within minutes of the change and keeps it
	// 14 days, so a recent change may not be there yet. KindForbidden when
	// the guard may not read the history.
	TagChanges(ctx context.Context, id ClusterID, tag, correlationID string) ([]Change, error)
}
