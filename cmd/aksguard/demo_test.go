package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/aksguard/aksguard/pkg/demo"
	"github.com/aksguard/aksguard/pkg/simulate"
	"github.com/aksguard/aksguard/pkg/storetest"
	"github.com/aksguard/aksguard/pkg/tablestore"
)

// demoExpect is what the demo's scenario (pkg/demo/demo.json) expects of
// every cluster; the demo exits 1 when one does not hold, and these tests
// check that the output shows each.
func demoExpect(t *testing.T) map[string]simulate.ClusterExpect {
	t.Helper()
	sc, err := demo.Scenario()
	if err != nil {
		t.Fatal(err)
	}
	if sc.Expect == nil || len(sc.Expect.Clusters) != len(sc.Fleet) {
		t.Fatalf("pkg/demo/demo.json expects %d clusters' end states; want all %d", len(sc.Expect.Clusters), len(sc.Fleet))
	}
	return sc.Expect.Clusters
}

func TestDemo(t *testing.T) {
	r := aksguard(t, "", nil, "demo")
	if r.code != exitOK {
		t.Fatalf("run(demo) = %d, want %d; stderr:\n%s", r.code, exitOK, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("run(demo) stderr = %q, want nothing", r.stderr)
	}
	for _, want := range []string{"AKS Identity Guard demo: simulated Azure, records in memory", "Clusters", "Audit trail of " + demo.Trail, "Totals:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("run(demo) stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	for name, e := range demoExpect(t) {
		row := `(?m)^\s+` + regexp.QuoteMeta(name) + `\s+\S+\s+` + regexp.QuoteMeta(*e.Finding) + `\s+` + regexp.QuoteMeta(*e.Job) + `\b`
		if !regexp.MustCompile(row).MatchString(r.stdout) {
			t.Errorf("run(demo) table lacks the row %s … %s %s:\n%s", name, *e.Finding, *e.Job, r.stdout)
		}
	}
}

// checkDemoJSON checks the cluster lines of `demo --output json`.
func checkDemoJSON(t *testing.T, r result) {
	t.Helper()
	if r.code != exitOK {
		t.Fatalf("run(demo --output json) = %d, want %d; stderr:\n%s", r.code, exitOK, r.stderr)
	}
	type line struct {
		Cluster *simulate.ClusterResult `json:"cluster"`
	}
	got := map[string]simulate.ClusterResult{}
	for _, l := range jsonLines[line](t, r.stdout) {
		if l.Cluster != nil {
			got[l.Cluster.Name] = *l.Cluster
		}
	}
	for name, e := range demoExpect(t) {
		c, ok := got[name]
		if !ok || c.Finding != *e.Finding || c.Job != *e.Job {
			t.Errorf("demo --output json: cluster %s = %+v, want finding %s, job %s", name, c, *e.Finding, *e.Job)
		}
	}
}

func TestDemoJSON(t *testing.T) {
	r := aksguard(t, "", nil, "demo", "--output", "json")
	checkDemoJSON(t, r)
	if r.stderr != "AKS Identity Guard demo: simulated Azure, records in memory\n" {
		t.Errorf("run(demo --output json) stderr = %q, want the heading only", r.stderr)
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
	checkDemoJSON(t, r)
}
