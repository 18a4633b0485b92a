package demo

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// person is someone whose ARM calls cause events in the demo.
type person struct {
	objectID, upn, name string
}

var (
	dana    = person{"5f0c2a4e-8d9b-4c71-9e3a-2b6d1f7a8c90", "dana.whitfield@contoso.com", "Dana Whitfield"}
	ravi    = person{"a3e91b07-6c2d-4f58-b1e4-7d09c8a6f213", "ravi.menon@contoso.com", "Ravi Menon"}
	guardMI = person{objectID: "c0ffee00-1d2e-4f3a-8b9c-0d1e2f3a4b5c"} // the guard's own managed identity
)

// claims are the caller's claims as ARM puts them into resource events.
func (p person) claims() map[string]string {
	c := map[string]string{
		"http://schemas.microsoft.com/identity/claims/objectidentifier": p.objectID,
		"http://schemas.microsoft.com/identity/claims/tenantid":         tenantID,
		"aud": "https://management.core.windows.net/",
		"ver": "1.0",
	}
	if p.upn != "" {
		c["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"] = p.upn
		c["name"] = p.name
	} else {
		c["appid"] = guardClientID
	}
	return c
}

const (
	tenantID      = "8f2c6d1e-3b4a-4e5f-9a7b-1c2d3e4f5a6b"
	guardClientID = "b1e2d3c4-a5f6-4789-8abc-def012345678"
)

// schema says how Event Grid delivers an event and how the Functions host
// hands it to the handler.
type schema int

const (
	eventGridObject  schema = iota // Event Grid schema, trigger value as an object
	eventGridString                // Event Grid schema, trigger value as a JSON string
	cloudEventObject               // CloudEvents 1.0, as an object
	cloudEventString               // CloudEvents 1.0, as a JSON string
)

// event is one ARM resource event to deliver.
type event struct {
	id        string
	eventType string // Microsoft.Resources.ResourceWriteSuccess or …DeleteSuccess
	operation string
	resource  string
	by        person
	at        time.Time
	schema    schema
	// correlation is the ARM request's, as its change record has it; the
	// event id when the demo made no record.
	correlation string
}

// body renders the event as Event Grid would deliver it.
func (e event) body() map[string]any {
	sub := strings.Split(e.resource, "/")[2]
	data := map[string]any{
		"authorization": map[string]any{
			"scope":    e.resource,
			"action":   e.operation,
			"evidence": map[string]any{"role": "Contributor", "principalId": e.by.objectID, "principalType": "User"},
		},
		"claims":           e.by.claims(),
		"correlationId":    cmp.Or(e.correlation, e.id),
		"httpRequest":      map[string]any{"clientIpAddress": "203.0.113.7", "method": "PUT"},
		"resourceProvider": strings.Split(e.operation, "/")[0],
		"resourceUri":      e.resource,
		"operationName":    e.operation,
		"status":           "Succeeded",
		"subscriptionId":   sub,
		"tenantId":         tenantID,
	}
	if e.schema == cloudEventObject || e.schema == cloudEventString {
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

// envelope wraps the event the way the Functions host invokes the
// ClusterEvents function.
func (e event) envelope() ([]byte, error) {
	b, err := json.Marshal(e.body())
	if err != nil {
		return nil, err
	}
	var value any = json.RawMessage(b)
	if e.schema == eventGridString || e.schema == cloudEventString {
		value = string(b)
	}
	return json.Marshal(map[string]any{
		"Data":     map[string]any{"event": value},
		"Metadata": map[string]any{"sys": map[string]any{"MethodName": "ClusterEvents", "UtcNow": e.at.Format(time.RFC3339Nano)}},
	})
}

func (e event) String() string {
	return fmt.Sprintf("%s %s", e.operation, e.resource)
}
