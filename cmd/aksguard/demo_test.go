package main

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/storetest"
	"github.com/aksguard/aksguard/pkg/tablestore"
)

// demoEndStates is where each cluster of pkg/demo/fleet.json ends up in the
// scenario (pkg/demo/scenario.go; pkg/demo/README.md says what each cluster
// shows): every terminal state a job can reach in the story is here.
var demoEndStates = []struct {
	name, verdict, finding, job string
}{
	// Approved by Dana, in prod (enforced), inside its Friday window.
	{"payments-prod-weu", "managed-identity", "resolved", "succeeded"},
	// Approved, but its custom private DNS zone needs a user-assigned identity.
	{"checkout-prod-neu", "service-principal", "open", "blocked"},
	{"search-prod-weu", "managed-identity", "clear", "none"},
	// Approved by Ravi, who is not on the approver list.
	{"analytics-prod-eus2", "mixed", "open", "awaiting-approval"},
	{"ingest-staging-weu", "managed-identity", "clear", "none"},
	// Approved in non-prod, where the guard runs dry.
	{"reporting-dev-weu", "service-principal", "open", "dry-run-complete"},
	// Never approved: parked.
	{"billing-prod-weu", "service-principal", "open", "awaiting-approval"},
	// Moved to a managed identity by hand during the demo.
	{"legacy-api-dev-weu", "managed-identity", "resolved", "cancelled"},
	// Deleted during the demo; its records stay.
	{"sandbox-dev-eus", "service-principal", "resolved", "cancelled"},
	// Exempted by Dana with the tag aksguard-remediation=exempt:…
	{"batch-legacy-eus", "service-principal", "exempt", "cancelled"},
}

// demoState is the contract of one `demo --output json` line.
type demoState struct {
	ClusterID string `json:"clusterId"`
	Verdict   string `json:"verdict"`
	Finding   string `json:"finding"`
	Job       string `json:"job"`
}

// wantDemoStates pairs the clusters of the fleet file with demoEndStates.
// IDs are lower-cased: ARM compares them case-insensitively, and the fleet
// file spells resourcegroups both ways.
func wantDemoStates(t *testing.T) []demoState {
	t.Helper()
	raw, err := os.ReadFile("../../pkg/demo/fleet.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Clusters []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"clusters"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatalf("pkg/demo/fleet.json: %v", err)
	}
	fleet := file.Clusters
	if len(fleet) != len(demoEndStates) {
		t.Errorf("pkg/demo/fleet.json has %d clusters, demoEndStates %d: keep them in step", len(fleet), len(demoEndStates))
	}
	var want []demoState
	for _, c := range fleet {
		i := -1
		for j, e := range demoEndStates {
			if e.name == c.Name {
				i = j
			}
		}
		if i < 0 {
			t.Errorf("fleet cluster %s has no entry in demoEndStates", c.Name)
			continue
		}
		e := demoEndStates[i]
		want = append(want, demoState{strings.ToLower(c.ID), e.verdict, e.finding, e.job})
	}
	sort.Slice(want, func(i, j int) bool { return want[i].ClusterID < want[j].ClusterID })
	return want
}

// checkDemoStates compares the JSON lines of a demo run with the end states
// expected.
func checkDemoStates(t *testing.T, r result) {
	t.Helper()
	if r.code != exitOK {
		t.Fatalf("run(demo --output json) = %d, want %d; stderr:\n%s", r.code, exitOK, r.stderr)
	}
	got := jsonLines[demoState](t, r.stdout, "clusterId", "verdict", "finding", "job")
	for i := range got {
		got[i].ClusterID = strings.ToLower(got[i].ClusterID)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].ClusterID < got[j].ClusterID })
	if diff := cmp.Diff(wantDemoStates(t), got); diff != "" {
		t.Errorf("run(demo --output json) end states mismatch (-want +got):\n%s", diff)
	}
}

func TestDemo(t *testing.T) {
	r := aksguard(t, "", nil, "demo")
	if r.code != exitOK {
		t.Fatalf("run(demo) = %d, want %d; stderr:\n%s", r.code, exitOK, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("run(demo) stderr = %q, want nothing", r.stderr)
	}
	for _, want := range []string{"AKS Identity Guard demo: simulated fleet, records in memory", "Fleet", "Totals:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("run(demo) stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, e := range demoEndStates {
		if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(e.name) + `\s+` + regexp.QuoteMeta(e.verdict) + `\s+` + e.finding + `\s+` + e.job + `\b`).MatchString(r.stdout) {
			t.Errorf("run(demo) fleet table lacks the row %s %s %s %s:\n%s", e.name, e.verdict, e.finding, e.job, r.stdout)
		}
	}
}

func TestDemoJSON(t *testing.T) {
	r := aksguard(t, "", nil, "demo", "--output", "json")
	checkDemoStates(t, r)
	// The story goes to stderr so that stdout stays machine-readable.
	if !strings.HasPrefix(r.stderr, "AKS Identity Guard demo: simulated fleet, records in memory\n") {
		t.Errorf("run(demo --output json) stderr = %.200q…, want the timeline, records in memory", r.stderr)
	}
}

// TestDemoAzurite runs the demo against the Azurite that scripts/test.sh
// starts, passing its connection string as the demo's table setting.
func TestDemoAzurite(t *testing.T) {
	conn := storetest.Azurite(t)
	r := aksguard(t, "", map[string]string{"AKSGUARD_TABLES_CONNECTION_STRING": conn}, "demo", "--output", "json")

	m := regexp.MustCompile(`records in Table Storage tables \[([^\]]+)\]`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("run(demo --output json) with a table setting: stderr = %.300q…, want records in Table Storage tables", r.stderr)
	}
	svc, err := tablestore.ServiceClientFromConnectionString(conn, nil)
	if err != nil {
		t.Fatalf("ServiceClientFromConnectionString() error = %v", err)
	}
	t.Cleanup(func() { storetest.DeleteTables(t, svc, strings.Fields(m[1])) })
	checkDemoStates(t, r)
}
