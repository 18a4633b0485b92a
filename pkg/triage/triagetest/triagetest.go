// Package triagetest builds Event Grid events for tests from the real
// samples in testdata/samples: the Microsoft docs' ResourceWriteSuccess event
// (Event Grid schema) and the SDK's CloudEvents test event, pointed at the
// resource and operation a test needs.
package triagetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aksguard/aksguard/pkg/sampletest"
)

// Schemas.
const (
	EventGrid  = "EventGridEvent"
	CloudEvent = "CloudEvent"
)

// Spec says what to change in a sample event.
type Spec struct {
	Schema    string // EventGrid (default) or CloudEvent
	ID        string
	Type      string // default Microsoft.Resources.ResourceWriteSuccess
	Operation string
	Resource  string
	Time      time.Time
	// Claims replace the sample's claims when set.
	Claims map[string]string
}

// Map returns the event s describes as a JSON object.
func Map(t testing.TB, s Spec) map[string]any {
	t.Helper()
	name := "eventgrid_egschema_ResourceWriteSuccess_docs_rg.json"
	if s.Schema == CloudEvent {
		name = "eventgrid_cloudevent_ResourceWriteSuccess_sdkgo_test.json"
	}
	var batch []map[string]any
	if err := json.Unmarshal(sampletest.Read(t, name), &batch); err != nil {
		t.Fatal(err)
	}
	ev := batch[0]
	data := ev["data"].(map[string]any)
	typeKey, timeKey := "eventType", "eventTime"
	if s.Schema == CloudEvent {
		typeKey, timeKey = "type", "time"
	}
	if s.ID != "" {
		ev["id"] = s.ID
	}
	if s.Type != "" {
		ev[typeKey] = s.Type
	}
	if !s.Time.IsZero() {
		ev[timeKey] = s.Time.UTC().Format(time.RFC3339Nano)
	}
	if s.Resource != "" {
		ev["subject"] = s.Resource
		data["resourceUri"] = s.Resource
	}
	if s.Operation != "" {
		data["operationName"] = s.Operation
	}
	if s.Claims != nil {
		data["claims"] = s.Claims
	}
	return ev
}

// JSON returns the event s describes, encoded.
func JSON(t testing.TB, s Spec) []byte {
	t.Helper()
	b, err := json.Marshal(Map(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// DocsClaims returns the claims of the docs' Event Grid sample: a real
// caller's full set, for events of either schema (the CloudEvents sample's
// are empty).
func DocsClaims(t testing.TB) map[string]string {
	t.Helper()
	data, _ := Map(t, Spec{})["data"].(map[string]any)
	m, _ := data["claims"].(map[string]any)
	out := make(map[string]string, len(m))
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			t.Fatalf("sample claim %q = %v, want a string", k, v)
		}
		out[k] = s
	}
	if len(out) < 20 {
		t.Fatalf("sample has %d claims, want the docs' full set", len(out))
	}
	return out
}
