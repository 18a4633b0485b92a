// Package triagetest builds Event Grid events for tests from the real
// samples in testdata/samples: the Microsoft docs' ResourceWriteSuccess event
// (Event Grid schema) and the SDK's CloudEvents test event, pointed at the
// resource and operation a test needs.
package triagetest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
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

// Dir is testdata/samples, found from this file so any package's tests can
// use it.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "samples")
}

// Sample returns a sample file's bytes.
func Sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Map returns the event s describes as a JSON object.
func Map(t testing.TB, s Spec) map[string]any {
	t.Helper()
	name := "eventgrid_egschema_ResourceWriteSuccess_docs_rg.json"
	if s.Schema == CloudEvent {
		name = "eventgrid_cloudevent_ResourceWriteSuccess_sdkgo_test.json"
	}
	var batch []map[string]any
	if err := json.Unmarshal(Sample(t, name), &batch); err != nil {
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
