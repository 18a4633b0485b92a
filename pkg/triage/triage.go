// Package triage decodes Event Grid deliveries — Event Grid schema or
// CloudEvents 1.0, one event or a batch — with the SDK's azsystemevents types,
// and decides for each event what the intake should do: evaluate a cluster,
// re-check its approval tag, close its finding, or ignore the event with a
// reason. It calls nothing; `aksguard triage` and the ClusterEvents handler
// share it.
package triage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/eventgrid/azsystemevents"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/jsonin"
)

// Schemas of an event.
const (
	SchemaEventGrid  = "EventGridEvent"
	SchemaCloudEvent = "CloudEvent"
)

// Operations the guard watches, compared case-insensitively.
const (
	opClusterWrite   = "Microsoft.ContainerService/managedClusters/write"
	opAgentPoolWrite = "Microsoft.ContainerService/managedClusters/agentPools/write"
	opTagsWrite      = "Microsoft.Resources/tags/write"
	opTagsDelete     = "Microsoft.Resources/tags/delete"
	opClusterDelete  = "Microsoft.ContainerService/managedClusters/delete"
)

// Operations are the operations the guard watches: the deployment's event
// subscription lets exactly these through (infra/ says so, and a test
// holds it).
var Operations = []string{opClusterWrite, opAgentPoolWrite, opClusterDelete, opTagsWrite, opTagsDelete}

// tagsSuffix ends the resource URI of a write through the Tags API.
const tagsSuffix = "/providers/Microsoft.Resources/tags/default"

// Claims that name the caller of an ARM operation: ARM's v1 names first,
// then the short names of v2 tokens.
var (
	claimObjectID = []string{"http://schemas.microsoft.com/identity/claims/objectidentifier", "oid"}
	claimAppID    = []string{"appid", "azp"}
	// A person's token carries the scopes it was granted; an
	// application's carries roles instead.
	claimScope = []string{"http://schemas.microsoft.com/identity/claims/scope", "scp"}
	claimUPN   = []string{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "upn", "preferred_username", "unique_name"}
	claimName  = []string{"name"}
)

// Decode reads one event, an array of events, or several of either one after
// another, and triages each. It fails only when data is not JSON at all or a
// value is neither an object nor an array; an event that cannot be decoded
// becomes an Event marked Invalid with the reason, so one bad event never
// blocks the rest of its batch.
func Decode(data []byte) ([]guard.Event, error) {
	// The common deliveries, one event or one batch, decode without a
	// stream decoder's copy of every value.
	switch firstByte(data) {
	case '{':
		if ev, err := one(data); err == nil {
			return []guard.Event{ev}, nil
		}
	case '[':
		var batch []json.RawMessage
		if json.Unmarshal(data, &batch) == nil {
			if len(batch) == 0 {
				return nil, errors.New("event payload holds no events")
			}
			out := make([]guard.Event, len(batch))
			for i, raw := range batch {
				out[i] = oneEvent(raw)
			}
			return out, nil
		}
	}
	var out []guard.Event
	err := Each(bytes.NewReader(data), func(ev guard.Event) error {
		out = append(out, ev)
		return nil
	})
	return out, err
}

// Each reads r once, as one event, a batch, or several of either one
// after another (JSON lines), and calls fn for every event in order, with
// memory bounded by the largest single event. Input that is not JSON, not
// UTF-8 or has duplicate keys is refused, naming the line and column
// (jsonin); events before the failure have been handed to fn.
func Each(r io.Reader, fn func(guard.Event) error) error {
	w := &events{fn: fn}
	if err := jsonin.Walk(r, w); err != nil {
		return fmt.Errorf("event payload: %w", err)
	}
	if w.n == 0 {
		return errors.New("event payload holds no events")
	}
	return nil
}

// events hands each event of a jsonin stream to fn: batches are opened,
// events read whole.
type events struct {
	fn func(guard.Event) error
	n  int
}

func (e *events) Open(p jsonin.Path, delim byte, _ jsonin.Pos) (bool, error) {
	return len(p) == 1 && delim == '[', nil
}

func (e *events) Value(p jsonin.Path, raw []byte, at jsonin.Pos) error {
	if raw[0] != '{' {
		return fmt.Errorf("%s at %s, not an event object", jsonin.Kind(raw), at)
	}
	e.n++
	return e.fn(oneEvent(raw))
}

func (e *events) Close(jsonin.Path, jsonin.Pos) error { return nil }

// wire is one event in either schema, decoded in a single pass: the
// CloudEvents 1.0 attributes and the Event Grid schema's, whose names
// differ (type/eventType, time/eventTime).
type wire struct {
	SpecVersion *string    `json:"specversion"`
	ID          string     `json:"id"`
	Source      string     `json:"source"`
	Type        string     `json:"type"`
	EventType   *string    `json:"eventType"`
	Subject     string     `json:"subject"`
	Time        *time.Time `json:"time"`
	EventTime   *time.Time `json:"eventTime"`
	Data        *writeData `json:"data"`
	DataBase64  []byte     `json:"data_base64"`
}

// wireRaw is wire for data that is not a JSON object: a JSON string holding
// the object, as some senders encode it.
type wireRaw struct {
	Data json.RawMessage `json:"data"`
}

// oneEvent decodes and triages a single event, which says what is wrong
// with it when it is not valid.
func oneEvent(raw []byte) guard.Event {
	ev, _ := one(raw)
	return ev
}

// one decodes and triages a single event. It also returns the JSON syntax
// error, if any, so Decode can tell a stream of several events from a
// broken one; the event then says what is wrong.
func one(raw []byte) (guard.Event, error) {
	var w wire
	err := json.Unmarshal(raw, &w)
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field == "data" {
		// Data sent as a string: decode the rest, then the data inside it.
		w.Data, err = nil, nil
		var r wireRaw
		if err = json.Unmarshal(raw, &r); err == nil {
			w.Data, err = decodeData(r.Data)
		}
		if err != nil {
			// Not a syntax error of the event itself: say what data was.
			err = fmt.Errorf("data is not a JSON object or a string holding one (%v)", err)
		}
	}
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return invalid(guard.Event{}, "event is not valid JSON: "+err.Error()), err
	}
	ev := guard.Event{ID: w.ID}
	switch {
	case w.SpecVersion != nil:
		ev.Schema, ev.Type = SchemaCloudEvent, w.Type
	case w.EventType != nil:
		ev.Schema, ev.Type = SchemaEventGrid, *w.EventType
	}
	if err != nil {
		// A field of the wrong type; encoding/json decoded the rest.
		return invalid(ev, "event does not fit its schema: "+err.Error()), nil
	}
	switch {
	case w.SpecVersion != nil:
		switch {
		case *w.SpecVersion != "1.0":
			return invalid(ev, "CloudEvent specversion "+*w.SpecVersion+" is not 1.0"), nil
		case w.ID == "" || w.Source == "" || w.Type == "":
			return invalid(ev, "CloudEvent lacks id, source or type"), nil
		}
		if w.Time != nil {
			ev.Time = *w.Time
		}
		if w.Data == nil && w.DataBase64 != nil {
			if w.Data, err = decodeData(w.DataBase64); err != nil {
				return invalid(ev, "CloudEvent data_base64: "+err.Error()), nil
			}
		}
	case w.EventType != nil:
		if w.ID == "" || ev.Type == "" {
			return invalid(ev, "Event Grid event lacks id or eventType"), nil
		}
		if w.EventTime != nil {
			ev.Time = *w.EventTime
		}
	default:
		return invalid(ev, "event is neither CloudEvents 1.0 (no specversion) nor Event Grid schema (no eventType)"), nil
	}
	return classify(ev, w.Subject, w.Data), nil
}

// decodeData decodes event data held as bytes: an object, or a JSON string
// holding one.
func decodeData(data []byte) (*writeData, error) {
	if firstByte(data) == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, err
		}
		data = []byte(s)
	}
	var d writeData
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// writeData is the SDK's ResourceWriteSuccessEventData without its
// UnmarshalJSON method, which decodes through a map of raw messages and
// re-scans every field: encoding/json fills the top-level fields in the pass
// that decodes the event (matching names case-insensitively, where the
// SDK's decoder wants them exact; Event Grid sends them in camelCase).
// Nested values such as authorization still go through the SDK's decoders.
// ResourceDeleteSuccessEventData has the same fields and converts from it.
type writeData azsystemevents.ResourceWriteSuccessEventData

// resourceData is what the guard reads from ResourceWriteSuccess and
// ResourceDeleteSuccess data; the two SDK types have the same fields.
type resourceData struct {
	operation, resourceURI, status, correlation string
	claims                                      map[string]*string
	evidence                                    map[string]*string
}

func classify(ev guard.Event, subject string, data *writeData) guard.Event {
	var d resourceData
	switch ev.Type {
	case azsystemevents.TypeResourceWriteSuccess:
		if data == nil {
			return invalid(ev, "ResourceWriteSuccess data: missing")
		}
		w := azsystemevents.ResourceWriteSuccessEventData(*data)
		d = resourceData{deref(w.OperationName), deref(w.ResourceURI), deref(w.Status), deref(w.CorrelationID), w.Claims, evidence(w.Authorization)}
	case azsystemevents.TypeResourceDeleteSuccess:
		if data == nil {
			return invalid(ev, "ResourceDeleteSuccess data: missing")
		}
		w := azsystemevents.ResourceDeleteSuccessEventData(*data)
		d = resourceData{deref(w.OperationName), deref(w.ResourceURI), deref(w.Status), deref(w.CorrelationID), w.Claims, evidence(w.Authorization)}
	case azsystemevents.TypeSubscriptionValidation:
		return ignore(ev, "subscription validation is answered by the Functions host's Event Grid extension")
	default:
		return ignore(ev, "event type "+ev.Type+" is not watched")
	}
	ev.Operation = d.operation
	ev.Resource = d.resourceURI
	if ev.Resource == "" {
		ev.Resource = subject
	}
	ev.Actor = actor(d.claims, d.evidence)
	ev.CorrelationID = d.correlation
	if d.status != "" && !strings.EqualFold(d.status, "Succeeded") {
		return ignore(withCluster(ev), "operation status is "+d.status)
	}
	return route(ev)
}

// route applies the relevance rules to an event's operation and resource.
func route(ev guard.Event) guard.Event {
	op := ev.Operation
	switch {
	case strings.EqualFold(op, opClusterWrite):
		return toCluster(ev, ev.Resource, guard.ActionEvaluate, "cluster written")
	case strings.EqualFold(op, opAgentPoolWrite):
		return toCluster(ev, ev.Resource, guard.ActionEvaluate, "agent pool written; evaluating its cluster")
	case strings.EqualFold(op, opClusterDelete):
		if ev.Type != azsystemevents.TypeResourceDeleteSuccess {
			return ignore(ev, "cluster delete reported by "+ev.Type)
		}
		return toCluster(ev, ev.Resource, guard.ActionClose, "cluster deleted")
	case strings.EqualFold(op, opTagsWrite):
		return toCluster(ev, withoutTagsSuffix(ev.Resource), guard.ActionApprovalCheck, "tags written; the approval may have changed")
	case strings.EqualFold(op, opTagsDelete):
		return toCluster(ev, withoutTagsSuffix(ev.Resource), guard.ActionApprovalCheck, "tags deleted; the approval may be gone")
	case op == "":
		return invalid(ev, ev.Type+" event has no data.operationName")
	}
	return ignore(withCluster(ev), "operation "+op+" is not watched")
}

// withoutTagsSuffix strips /providers/Microsoft.Resources/tags/default from
// the resource URI of a Tags API call.
func withoutTagsSuffix(res string) string {
	if n := len(res) - len(tagsSuffix); n > 0 && strings.EqualFold(res[n:], tagsSuffix) {
		return res[:n]
	}
	return res
}

// withCluster names the cluster an ignored event's resource belongs to, if
// any, so that the report of what was ignored says which cluster it was.
func withCluster(ev guard.Event) guard.Event {
	if id, _, err := armid.ClusterOf(withoutTagsSuffix(ev.Resource)); err == nil {
		ev.Cluster = id
	}
	return ev
}

// toCluster sets the event's cluster from the resource ID, or marks why it
// has none. For a tags write only the cluster itself counts; agent pools
// and cluster writes map to the cluster.
func toCluster(ev guard.Event, resource string, action guard.Action, reason string) guard.Event {
	id, child, err := armid.ClusterOf(resource)
	switch {
	case errors.Is(err, armid.ErrNotCluster):
		return ignore(ev, "resource is not an AKS managed cluster")
	case err != nil:
		return invalid(ev, err.Error())
	case action == guard.ActionApprovalCheck && child != "":
		ev.Cluster = id
		return ignore(ev, "tags written on "+child+", not on the cluster")
	}
	ev.Cluster, ev.Action, ev.Reason = id, action, reason
	return ev
}

func actor(claims, evidence map[string]*string) guard.Actor {
	a := guard.Actor{
		ObjectID: claim(claims, claimObjectID),
		AppID:    claim(claims, claimAppID),
		UPN:      claim(claims, claimUPN),
		Name:     claim(claims, claimName),
	}
	a.User = a.UPN != "" || claim(claims, claimScope) != ""
	if a.ObjectID == "" {
		a.ObjectID = claim(evidence, []string{"principalId"})
	}
	return a
}

func claim(m map[string]*string, names []string) string {
	for _, n := range names {
		if v := m[n]; v != nil && *v != "" {
			return *v
		}
	}
	return ""
}

func evidence(a *azsystemevents.ResourceAuthorization) map[string]*string {
	if a == nil {
		return nil
	}
	return a.Evidence
}

func invalid(ev guard.Event, reason string) guard.Event {
	ev.Invalid, ev.Action, ev.Reason = true, guard.ActionIgnore, "invalid event: "+reason
	return ev
}

func ignore(ev guard.Event, reason string) guard.Event {
	ev.Action, ev.Reason = guard.ActionIgnore, reason
	return ev
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func firstByte(v []byte) byte {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return 0
	}
	return v[0]
}

// Stamp formats an event time for output; the zero time is empty.
func Stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
