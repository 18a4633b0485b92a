package simulate_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aksguard/aksguard/pkg/simulate"
	"github.com/aksguard/aksguard/pkg/storetest"
)

// scenarioFiles are the scenarios shipped in testdata/scenarios.
func scenarioFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../testdata/scenarios/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios in testdata/scenarios (err %v)", err)
	}
	return files
}

func load(t *testing.T, file string) *simulate.Scenario {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc, err := simulate.Load(f)
	if err != nil {
		t.Fatalf("Load(%s) error %v", file, err)
	}
	return sc
}

// TestScenarios runs every shipped scenario on Table Storage (Azurite when
// scripts/test.sh runs one) and holds what each expects: every scenario
// states the property it holds.
func TestScenarios(t *testing.T) {
	for _, file := range scenarioFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			sc := load(t, file)
			if sc.Expect == nil {
				t.Fatalf("%s has no expect: a scenario states the property it holds", file)
			}
			res, err := simulate.Run(t.Context(), sc, simulate.Options{Store: storetest.Store(t)})
			if err != nil {
				t.Fatalf("Run(%s) error %v", file, err)
			}
			for _, bad := range sc.Check(res) {
				t.Error(bad)
			}
		})
	}
}

// TestJSONLines: the JSON report is one object per line, the last ones one
// per cluster and the totals.
func TestJSONLines(t *testing.T) {
	sc := load(t, "../../testdata/scenarios/approver-list-bypass.json")
	var out bytes.Buffer
	lines := simulate.NewJSONLines(&out)
	if _, err := simulate.Run(t.Context(), sc, simulate.Options{Report: lines}); err != nil {
		t.Fatal(err)
	}
	if err := lines.Err(); err != nil {
		t.Fatal(err)
	}
	all := strings.Split(strings.TrimSpace(out.String()), "\n")
	var keys []string
	for _, l := range all {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &m); err != nil || len(m) != 1 {
			t.Fatalf("line %q is not one JSON object with one key (%v)", l, err)
		}
		for k := range m {
			keys = append(keys, k)
		}
	}
	if n := len(keys); n < 3 || keys[n-2] != "cluster" || keys[n-1] != "totals" || keys[0] != "step" {
		t.Errorf("line keys = %q, want steps and invocations, then cluster, then totals", keys)
	}
	var last struct {
		Totals map[string]json.RawMessage `json:"totals"`
	}
	if err := json.Unmarshal([]byte(all[len(all)-1]), &last); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"armReads", "puts", "messages", "deadLettered", "alerts", "strandedJobs"} {
		if _, ok := last.Totals[k]; !ok {
			t.Errorf("totals lack %q: %s", k, all[len(all)-1])
		}
	}
	var cl struct {
		Cluster map[string]json.RawMessage `json:"cluster"`
	}
	if err := json.Unmarshal([]byte(all[len(all)-2]), &cl); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "clusterId", "verdict", "finding", "job", "approval", "approvedBy", "puts", "grants"} {
		if _, ok := cl.Cluster[k]; !ok {
			t.Errorf("cluster line lacks %q: %s", k, all[len(all)-2])
		}
	}
}

// TestLoadRejects: a scenario that cannot run is refused with the step and
// field named.
func TestLoadRejects(t *testing.T) {
	base, err := os.ReadFile("../../testdata/scenarios/approver-list-bypass.json")
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(m map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal(base, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	step := func(i int, k string, v any) string {
		return edit(func(m map[string]any) { m["steps"].([]any)[i].(map[string]any)[k] = v })
	}
	tests := []struct {
		name, in, mention string
	}{
		{"not JSON", "{\n  \"steps\": [,]\n}", "line 2, column"},
		{"unknown field", edit(func(m map[string]any) { m["fleets"] = 1 }), `unknown field "fleets"`},
		{"unknown step field", step(1, "who", "dana"), `steps[1]: json: unknown field "who"`},
		{"unknown action", step(1, "do", "tag"), `steps[1] (tag): field do: "tag" is not one of`},
		{"bad time", step(1, "at", "soon"), `steps[1] (set-tag): field at: "soon" is not a duration`},
		{"unknown principal", step(1, "by", "mallory"), `steps[1] (set-tag): field by: no principal "mallory"`},
		{"unknown cluster", step(1, "cluster", "nope"), `steps[1] (set-tag): field cluster: no cluster named "nope"`},
		{"bad via", step(1, "via", "portal"), `steps[1] (set-tag): field via: "portal" is neither`},
		{"bad event", step(1, "event", "late"), `steps[1] (set-tag): field event:`},
		{"redeliver later step", step(4, "step", 9), `steps[4] (redeliver): field step: 9 is not an earlier step`},
		{"fault without count", edit(func(m map[string]any) {
			m["steps"] = append(m["steps"].([]any), map[string]any{"at": "1m", "do": "fault", "target": "tables", "kind": "unavailable"})
		}), "needs a positive count or duration"},
		{"fault on an unknown target", edit(func(m map[string]any) {
			m["steps"] = append(m["steps"].([]any), map[string]any{"at": "1m", "do": "fault", "target": "dns", "kind": "unavailable", "count": 1})
		}), `unknown fault target "dns"`},
		{"operation-failed on reads", edit(func(m map[string]any) {
			m["steps"] = append(m["steps"].([]any), map[string]any{"at": "1m", "do": "fault", "target": "arm-read", "kind": "operation-failed", "count": 1})
		}), `applies to target "arm-put" only`},
		{"unknown setting", edit(func(m map[string]any) { m["settings"].(map[string]any)["AKSGUARD_MOOD"] = "x" }), "AKSGUARD_MOOD: not a setting"},
		{"malformed setting", edit(func(m map[string]any) { m["settings"].(map[string]any)["AKSGUARD_MODE"] = "yolo" }), `AKSGUARD_MODE="yolo" is not dry-run or enforce`},
		{"no until", edit(func(m map[string]any) { delete(m, "until") }), "until: want a positive duration"},
		{"bad role", edit(func(m map[string]any) { m["roleAssignments"].([]any)[0].(map[string]any)["role"] = "Superuser" }), `roleAssignments[0]: role "Superuser"`},
		{"expect of an unknown cluster", edit(func(m map[string]any) {
			m["expect"].(map[string]any)["clusters"] = map[string]any{"nope": map[string]any{"puts": 0}}
		}), `expect.clusters: no cluster named "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := simulate.Load(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("Load() error = %v, want one mentioning %q", err, tt.mention)
			}
		})
	}
}
