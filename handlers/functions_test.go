package handlers

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aksguard/aksguard/pkg/servicebus"
	"github.com/aksguard/aksguard/pkg/settings"
)

// functionJSON is a function.json as the Functions host reads it.
type functionJSON struct {
	Bindings []binding `json:"bindings"`
}

type binding struct {
	Type       string   `json:"type"`
	Name       string   `json:"name"`
	Direction  string   `json:"direction"`
	QueueName  string   `json:"queueName"`
	Connection string   `json:"connection"`
	Schedule   string   `json:"schedule"`
	AuthLevel  string   `json:"authLevel"`
	Methods    []string `json:"methods"`
}

// TestFunctionsMatchTheHandler: every folder in functions/ is a route the
// handler serves, each trigger's binding is the name the handler reads,
// the queue and its connection are the ones the code and the settings use,
// and every function the handler serves is deployed.
func TestFunctionsMatchTheHandler(t *testing.T) {
	want := map[string]struct{ trigger, binding string }{
		ClusterEvents:   {"eventGridTrigger", eventBinding},
		RemediationJobs: {"serviceBusTrigger", messageBinding},
		Reconcile:       {"timerTrigger", "timer"},
		Sweep:           {"timerTrigger", "timer"},
		Report:          {"httpTrigger", "req"},
	}
	dirs, err := filepath.Glob("../functions/*/function.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no functions/*/function.json (%v)", err)
	}
	var names []string
	for _, path := range dirs {
		name := filepath.Base(filepath.Dir(path))
		names = append(names, name)
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var fj functionJSON
		if err := json.Unmarshal(raw, &fj); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		w, ok := want[name]
		if !ok {
			t.Errorf("functions/%s has no route in the handler", name)
			continue
		}
		in := slices.IndexFunc(fj.Bindings, func(b binding) bool {
			return b.Direction == "in"
		})
		if in < 0 || fj.Bindings[in].Type != w.trigger || fj.Bindings[in].Name != w.binding {
			t.Errorf("functions/%s: trigger binding = %+v, want a %s named %q", name, fj.Bindings, w.trigger, w.binding)
			continue
		}
		b := fj.Bindings[in]
		switch name {
		case RemediationJobs:
			if b.QueueName != servicebus.QueueName || b.Connection+"__fullyQualifiedNamespace" != settings.ServiceBus {
				t.Errorf("functions/%s: queue %q on connection %q; want %q on the prefix of %s", name, b.QueueName, b.Connection, servicebus.QueueName, settings.ServiceBus)
			}
		case Sweep:
			if b.Schedule != "%"+settings.SweepSchedule+"%" {
				t.Errorf("functions/Sweep: schedule %q, want %%%s%%", b.Schedule, settings.SweepSchedule)
			}
		case Report:
			out := slices.ContainsFunc(fj.Bindings, func(o binding) bool {
				return o.Type == "http" && o.Direction == "out" && o.Name == "res"
			})
			if b.AuthLevel != "function" || !slices.Equal(b.Methods, []string{"get"}) || !out {
				t.Errorf("functions/Report: %+v; want GET with a function key and an http output named res", fj.Bindings)
			}
		}
	}
	for name := range want {
		if !slices.Contains(names, name) {
			t.Errorf("the handler serves %s, but functions/%s/function.json is missing", name, name)
		}
	}
	if host, err := os.ReadFile("../host.json"); err != nil || !strings.Contains(string(host), `"enableForwardingHttpRequest": false`) {
		t.Errorf("host.json must not forward HTTP requests: the Report function is answered through Outputs.res (%v)", err)
	}
}
