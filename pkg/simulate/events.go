package simulate

import (
	"encoding/json"
	"strings"
	"time"
)

// ARM operations and Event Grid event types the steps cause.
const (
	opClusterWrite  = "Microsoft.ContainerService/managedClusters/write"
	opPoolWrite     = "Microsoft.ContainerService/managedClusters/agentPools/write"
	opClusterDelete = "Microsoft.ContainerService/managedClusters/delete"
	opTagsWrite     = "Microsoft.Resources/tags/write"
	evWrite         = "Microsoft.Resources.ResourceWriteSuccess"
	evDelete        = "Microsoft.Resources.ResourceDeleteSuccess"
	tagsSuffix      = "/providers/Microsoft.Resources/tags/default"
	tenantID        = "8f2c6d1e-3b4a-4e5f-9a7b-1c2d3e4f5a6b"
)

// schema says how Event Grid delivers an event and how the Functions host
// hands it to the handler.
type schema struct {
	cloudEvents bool // CloudEvents 1.0, else the Event Grid schema
	asString    bool // the trigger value as a JSON string, else an object
}

var schemas = map[string]schema{
	"":                   {},
	"eventgrid":          {},
	"eventgrid-string":   {asString: true},
	"cloudevents":        {cloudEvents: true},
	"cloudevents-string": {cloudEvents: true, asString: true},
}

// event is one ARM resource event to deliver, or a raw body.
type event struct {
	id          string
	eventType   string
	operation   string
	resource    string
	by          Principal
	at          time.Time
	correlation string
	schema      schema
	// raw, when set, is delivered as it is.
	raw json.RawMessage
}

// claims are the caller's claims as ARM puts them into resource events.
func (p Principal) claims() map[string]string {
	c := map[string]string{
		"http://schemas.microsoft.com/identity/claims/objectidentifier": p.ObjectID,
		"http://schemas.microsoft.com/identity/claims/tenantid":         tenantID,
		"aud": "https://management.core.windows.net/",
		"ver": "1.0",
	}
	if p.user() {
		c["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"] = p.UPN
		if p.Name != "" {
			c["name"] = p.Name
		}
	} else {
		c["appid"] = p.AppID
	}
	return c
}

// body renders the event as Event Grid would deliver it.
func (e event) body() any {
	if e.raw != nil {
		return e.raw
	}
	sub := strings.Split(e.resource, "/")[2]
	data := map[string]any{
		"authorization": map[string]any{
			"scope":    e.resource,
			"action":   e.operation,
			"evidence": map[string]any{"role": "Contributor", "principalId": e.by.ObjectID, "principalType": principalType(e.by)},
		},
		"claims":           e.by.claims(),
		"correlationId":    e.correlation,
		"httpRequest":      map[string]any{"clientIpAddress": "203.0.113.7", "method": "PUT"},
		"resourceProvider": strings.Split(e.operation, "/")[0],
		"resourceUri":      e.resource,
		"operationName":    e.operation,
		"status":           "Succeeded",
		"subscriptionId":   sub,
		"tenantId":         tenantID,
	}
	if e.schema.cloudEvents {
		return map[string]any{
			"specversion": "1.0", "id": e.id, "source": "/subscriptions/" + sub, "type": e.eventType,
			"subject": e.resource, "time": e.at.Format(time.RFC3339Nano), "data": data,
		}
	}
	return map[string]any{
		"id": e.id, "topic": "/subscriptions/" + sub, "subject": e.resource, "eventType": e.eventType,
		"eventTime": e.at.Format(time.RFC3339Nano), "data": data, "dataVersion": "2", "metadataVersion": "1",
	}
}

func principalType(p Principal) string {
	if p.user() {
		return "User"
	}
	return "ServicePrincipal"
}

// envelope wraps the event the way the Functions host invokes the
// ClusterEvents function.
func (e event) envelope() ([]byte, error) {
	b, err := json.Marshal(e.body())
	if err != nil {
		return nil, err
	}
	var value any = json.RawMessage(b)
	if e.schema.asString {
		value = string(b)
	}
	return json.Marshal(map[string]any{
		"Data":     map[string]any{"event": value},
		"Metadata": map[string]any{"sys": map[string]any{"MethodName": "ClusterEvents", "UtcNow": e.at.Format(time.RFC3339Nano)}},
	})
}
