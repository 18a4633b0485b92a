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

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/messaging"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/eventgrid/azsystemevents"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/guard"
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
	opClusterDelete  = "Microsoft.ContainerService/managedClusters/delete"
)

// tagsSuffix ends the resource URI of a write through the Tags API.
const tagsSuffix = "/providers/Microsoft.Resources/tags/default"

// Claims that name the caller of an ARM operation: ARM's v1 names first,
// then the short names of v2 tokens.
var (
	claimObjectID = []string{"http://schemas.microsoft.com/identity/claims/objectidentifier", "oid"}
	claimAppID    = []string{"appid", "azp"}
	claimUPN      = []string{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "upn", "preferred_username", "unique_name"}
	claimName     = []string{"name"}
)

// Decode reads one event, an array of events, or several of either one after
// another, and triages each. It fails only when data is not JSON at all or a
// value is neither an object nor an array; an event that cannot be decoded
// becomes an Event marked Invalid with the reason, so one bad event never
// blocks the rest of its batch.
func Decode(data []byte) ([]guard.Event, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var out []guard.Event
	for {
		var v json.RawMessage
		err := dec.Decode(&v)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("event payload is not valid JSON: %w", err)
		}
		switch firstByte(v) {
		case '[':
			var batch []json.RawMessage
			if err := json.Unmarshal(v, &batch); err != nil {
				return nil, fmt.Errorf("event batch: %w", err)
			}
			for _, raw := range batch {
				out = append(out, One(raw))
			}
		case '{':
			out = append(out, One(v))
		default:
			return nil, errors.New("event payload is neither a JSON object nor an array")
		}
	}
	if len(out) == 0 {
		return nil, errors.New("event payload holds no events")
	}
	return out, nil
}

// One decodes and triages a single event.
func One(raw []byte) guard.Event {
	var probe struct {
		SpecVersion *string `json:"specversion"`
		EventType   *string `json:"eventType"`
		ID          string  `json:"id"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return invalid(guard.Event{}, "event is not a JSON object: "+err.Error())
	}
	switch {
	case probe.SpecVersion != nil:
		return fromCloudEvent(raw, probe.ID)
	case probe.EventType != nil:
		return fromEventGridEvent(raw, probe.ID)
	}
	return invalid(guard.Event{ID: probe.ID}, "event is neither CloudEvents 1.0 (no specversion) nor Event Grid schema (no eventType)")
}

func fromCloudEvent(raw []byte, id string) guard.Event {
	ev := guard.Event{ID: id, Schema: SchemaCloudEvent}
	var ce messaging.CloudEvent
	if err := json.Unmarshal(raw, &ce); err != nil {
		return invalid(ev, "CloudEvent: "+err.Error())
	}
	if ce.SpecVersion != "1.0" {
		return invalid(ev, "CloudEvent specversion "+ce.SpecVersion+" is not 1.0")
	}
	ev.ID, ev.Type = ce.ID, ce.Type
	if ce.Time != nil {
		ev.Time = *ce.Time
	}
	subject := ""
	if ce.Subject != nil {
		subject = *ce.Subject
	}
	data, _ := ce.Data.([]byte)
	return classify(ev, subject, data)
}

func fromEventGridEvent(raw []byte, id string) guard.Event {
	ev := guard.Event{ID: id, Schema: SchemaEventGrid}
	var eg azsystemevents.EventGridEvent
	if err := json.Unmarshal(raw, &eg); err != nil {
		return invalid(ev, "Event Grid event: "+err.Error())
	}
	ev.ID, ev.Type = deref(eg.ID), deref(eg.EventType)
	if ev.ID == "" || ev.Type == "" {
		return invalid(ev, "Event Grid event lacks id or eventType")
	}
	if eg.EventTime != nil {
		ev.Time = *eg.EventTime
	}
	data, _ := eg.Data.([]byte)
	return classify(ev, deref(eg.Subject), data)
}

// resourceData is what the guard reads from ResourceWriteSuccess and
// ResourceDeleteSuccess data; the two SDK types have the same fields.
type resourceData struct {
	operation, resourceURI, status string
	claims                         map[string]*string
	evidence                       map[string]*string
}

func classify(ev guard.Event, subject string, data []byte) guard.Event {
	var d resourceData
	switch ev.Type {
	case azsystemevents.TypeResourceWriteSuccess:
		var w azsystemevents.ResourceWriteSuccessEventData
		if err := unmarshalData(data, &w); err != nil {
			return invalid(ev, "ResourceWriteSuccess data: "+err.Error())
		}
		d = resourceData{deref(w.OperationName), deref(w.ResourceURI), deref(w.Status), w.Claims, evidence(w.Authorization)}
	case azsystemevents.TypeResourceDeleteSuccess:
		var w azsystemevents.ResourceDeleteSuccessEventData
		if err := unmarshalData(data, &w); err != nil {
			return invalid(ev, "ResourceDeleteSuccess data: "+err.Error())
		}
		d = resourceData{deref(w.OperationName), deref(w.ResourceURI), deref(w.Status), w.Claims, evidence(w.Authorization)}
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
	if d.status != "" && !strings.EqualFold(d.status, "Succeeded") {
		return ignore(ev, "operation status is "+d.status)
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
		res := ev.Resource
		if n := len(res) - len(tagsSuffix); n > 0 && strings.EqualFold(res[n:], tagsSuffix) {
			res = res[:n]
		}
		return toCluster(ev, res, guard.ActionApprovalCheck, "tags written; the approval may have changed")
	case op == "":
		return invalid(ev, ev.Type+" event has no data.operationName")
	}
	return ignore(ev, "operation "+op+" is not watched")
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

// unmarshalData decodes event data, which a sender may also have encoded as
// a JSON string holding the object.
func unmarshalData(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("missing")
	}
	if firstByte(data) == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		data = []byte(s)
	}
	return json.Unmarshal(data, v)
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
