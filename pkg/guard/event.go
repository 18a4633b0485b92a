package guard

import (
	"strings"
	"time"
)

// Action is what the intake does with an event.
type Action string

const (
	// ActionEvaluate re-reads the cluster and applies the verdict rules.
	ActionEvaluate Action = "evaluate"
	// ActionApprovalCheck re-reads the cluster's tags: an approval or
	// exemption may have changed.
	ActionApprovalCheck Action = "approval-check"
	// ActionClose confirms a deletion and closes the cluster's finding.
	ActionClose Action = "close"
	// ActionIgnore does nothing; the event's Reason says why.
	ActionIgnore Action = "ignore"
)

// Event is one Event Grid event after decoding and triage: which cluster it
// concerns, what the intake should do with it, and who caused it. Events are
// hints: the intake re-reads the cluster before deciding anything.
type Event struct {
	ID        string
	Type      string
	Schema    string // "EventGridEvent" or "CloudEvent"
	Time      time.Time
	Operation string // data.operationName as sent
	// Resource is the resource the event names (data.resourceUri or subject).
	Resource string
	// Cluster is the managed cluster concerned, zero when there is none.
	Cluster ClusterID
	Action  Action
	Reason  string
	Actor   Actor
	// CorrelationID is data.correlationId: the ARM request's, which its
	// change record carries too.
	CorrelationID string
	// Invalid marks an event that could not be decoded or names no valid
	// resource: it is ignored, counted and logged as rejected.
	Invalid bool
}

// Actor is the principal that caused an event, from its claims.
type Actor struct {
	ObjectID string
	// AppID is the application the token was issued to: the principal
	// itself for an application, the client a person signed in with (the
	// Azure CLI, the portal) for a user.
	AppID string
	UPN   string
	Name  string
	// User is set when the token was a person's (delegated, with scopes).
	User bool
}

// IsZero reports whether the event carried no identity.
func (a Actor) IsZero() bool { return a == Actor{} }

// String names the actor the way a person reads it in an audit entry: the
// UPN, else the display name, else the application or object id.
func (a Actor) String() string {
	switch {
	case a.UPN != "":
		return a.UPN
	case a.Name != "":
		return a.Name
	case a.AppID != "":
		return "app " + a.AppID
	case a.ObjectID != "":
		return "object " + a.ObjectID
	}
	return "unknown"
}

// Is reports whether the actor is one of the principals in ids: by object
// id, or by application id for an application. A person's token names the
// client they signed in with as appid; that client is not the person.
func (a Actor) Is(ids []string) bool {
	for _, id := range ids {
		if id != "" && (strings.EqualFold(a.ObjectID, id) || a.application() && strings.EqualFold(a.AppID, id)) {
			return true
		}
	}
	return false
}

// application reports whether the actor is an application (a service
// principal or managed identity) rather than a person.
func (a Actor) application() bool { return !a.User && a.UPN == "" }

// agentPool reports whether the event reports a write to one of the
// cluster's agent pools, which cannot change the verdict or the approval.
func (e Event) agentPool() bool {
	return strings.Contains(strings.ToLower(e.Operation), "/agentpools/")
}
