package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aksguard/aksguard/pkg/settings"
)

// TestSettingsAreDocumented keeps the code, the README's configuration table
// and local.settings.sample.json in step: every setting the binary reads is
// in the table, and every one a person sets is in the sample file, which
// names nothing the binary does not read (besides the host's own).
func TestSettingsAreDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../local.settings.sample.json")
	if err != nil {
		t.Fatal(err)
	}
	var sample struct {
		Values map[string]string `json:"Values"`
	}
	if err := json.Unmarshal(raw, &sample); err != nil {
		t.Fatalf("local.settings.sample.json: %v", err)
	}
	known := map[string]bool{}
	for _, s := range settings.All {
		known[s.Name] = true
		if !strings.Contains(string(readme), "| `"+s.Name+"` |") {
			t.Errorf("README's configuration table lacks %s", s.Name)
		}
		if _, ok := sample.Values[s.Name]; ok == s.Platform {
			t.Errorf("local.settings.sample.json: %s present = %v, want %v (set by the platform: %v)", s.Name, ok, !s.Platform, s.Platform)
		}
	}
	// The host reads these itself; the trigger's identity settings are the
	// operator's to set, so the README documents them too.
	hostOwn := map[string]bool{"FUNCTIONS_WORKER_RUNTIME": true, "AzureWebJobsStorage": true}
	for _, name := range []string{"AKSGUARD_SERVICEBUS__credential", "AKSGUARD_SERVICEBUS__clientId"} {
		hostOwn[name] = true
		if !strings.Contains(string(readme), "| `"+name+"` |") {
			t.Errorf("README's configuration table lacks %s, which the Functions host reads", name)
		}
	}
	for name := range sample.Values {
		if !known[name] && !hostOwn[name] {
			t.Errorf("local.settings.sample.json names %s, which the binary does not read", name)
		}
	}
}
