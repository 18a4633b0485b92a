package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/aksguard/aksguard/pkg/demo"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/report"
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

	// aksguard report reads the same tables, as an operator would the
	// deployed guard's.
	prefix := strings.TrimSuffix(strings.Fields(m[1])[0], "findings")
	env := map[string]string{"AKSGUARD_TABLES_CONNECTION_STRING": conn, "AKSGUARD_TABLE_PREFIX": prefix}
	rep := aksguard(t, "", env, "report", "--output", "json")
	var got report.Report
	if err := json.Unmarshal([]byte(rep.stdout), &got); rep.code != 0 || err != nil {
		t.Fatalf("run(report --output json) = %d, %v; stderr %q", rep.code, err, rep.stderr)
	}
	if got.Latest.Clusters != 10 || got.Latest.FlaggedTotal != 6 || len(got.History) != 2 {
		t.Errorf("report = %+v; want the demo's last sweep (10 clusters, 6 flagged) and two days of history", got.Latest)
	}
	text := aksguard(t, "", env, "report")
	if text.code != 0 || !strings.Contains(text.stdout, "compliance                40.0% (4 of 10 clusters use a managed identity)") {
		t.Errorf("run(report) = %d, %q", text.code, text.stdout)
	}

	// aksguard status reads the same tables: one cluster, by name, and the
	// fleet.
	st := aksguard(t, "", env, "status", "payments-prod-weu")
	for _, want := range []string{"finding     resolved", "kubelet-pending", "approved \"approved\", set by dana.whitfield@contoso.com",
		"plan\n  - move the control plane from service principal 3bf1b8fa-ad21-402f-888a-ec509e7f55f1", "audit trail", "job-updating"} {
		if st.code != 0 || !strings.Contains(st.stdout, want) {
			t.Errorf("run(status payments-prod-weu) = %d, lacks %q:\n%s%s", st.code, want, st.stdout, st.stderr)
		}
	}
	var one struct {
		Finding guard.Finding
		Job     *guard.Job
		Audit   []guard.AuditEntry
	}
	sj := aksguard(t, "", env, "status", "--output", "json", "/subscriptions/7081f3a5-4a28-420f-983d-d492b49d20a2/resourcegroups/rg-payments-prod-weu/providers/Microsoft.ContainerService/managedClusters/payments-prod-weu")
	if err := json.Unmarshal([]byte(sj.stdout), &one); sj.code != 0 || err != nil || one.Job == nil || one.Job.State != guard.JobKubeletPending || len(one.Audit) == 0 {
		t.Errorf("run(status --output json ID) = %d, %v: %+v", sj.code, err, one)
	}
	fleet := aksguard(t, "", env, "status")
	if fleet.code != 0 || !strings.Contains(fleet.stdout, "inventory-prod-weu") || !strings.Contains(fleet.stdout, "7 cluster(s) flagged, kubelet-pending or exempt") {
		t.Errorf("run(status) = %d:\n%s%s", fleet.code, fleet.stdout, fleet.stderr)
	}
	if miss := aksguard(t, "", env, "status", "no-such-cluster"); miss.code != exitUsage || !strings.Contains(miss.stderr, `no cluster named "no-such-cluster"`) {
		t.Errorf("run(status no-such-cluster) = %d, %q", miss.code, miss.stderr)
	}
}

// TestOperatorCommandsNeedTheirSettings: report and sweep name what is
// missing and exit 2.
func TestOperatorCommandsNeedTheirSettings(t *testing.T) {
	for _, tt := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"report"}, nil, "set AKSGUARD_TABLES_ENDPOINT"},
		{[]string{"sweep"}, nil, "set AKSGUARD_SERVICEBUS__fullyQualifiedNamespace"},
		{[]string{"sweep"}, map[string]string{"AKSGUARD_SERVICEBUS__fullyQualifiedNamespace": "ns.servicebus.windows.net"}, "set AKSGUARD_TABLES_ENDPOINT"},
		{[]string{"sweep"}, map[string]string{"AKSGUARD_SWEEP_MANAGEMENT_GROUP": "a/b"}, "is not a management group id"},
		{[]string{"report"}, map[string]string{"AKSGUARD_TABLES_ENDPOINT": "https://x.table.core.windows.net", "AKSGUARD_TABLE_PREFIX": "9bad"}, "table prefix"},
	} {
		r := aksguard(t, "", tt.env, tt.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("run(%v) = %d, %q; want 2 saying %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}

// TestVersion: aksguard version names the module and the Go version, as
// text or JSON.
func TestVersion(t *testing.T) {
	r := aksguard(t, "", nil, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "aksguard ") || !strings.Contains(r.stdout, "go1.") {
		t.Errorf("run(version) = %d, %q", r.code, r.stdout)
	}
	j := aksguard(t, "", nil, "version", "--output", "json")
	var b struct{ Module, Version string }
	if err := json.Unmarshal([]byte(j.stdout), &b); j.code != 0 || err != nil || b.Module != "github.com/aksguard/aksguard" || b.Version == "" {
		t.Errorf("run(version --output json) = %d, %q (%v)", j.code, j.stdout, err)
	}
}
