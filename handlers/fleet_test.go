package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/report"
	"github.com/aksguard/aksguard/pkg/resourcegraph"
	"github.com/aksguard/aksguard/pkg/sampletest"
)

// sweepRig is a rig whose service sweeps the simulated fleet and whose
// Report function reads the store.
func sweepRig(t *testing.T) *rig {
	var r *rig
	r = newRig(t, func(o *Options, c *guard.Config) {
		o.Report = func(ctx context.Context) (report.Report, error) { return report.Build(ctx, r.store, r.clock.Now()) }
	}, func(_ *Options, c *guard.Config) {
		c.Fleet = c.History.(*resourcegraph.Client).Fleet(resourcegraph.FleetScope{}, nil)
	})
	return r
}

// reportRequest is the host's invocation of the Report function: the
// docs' HTTP trigger request, made a GET with the Accept header given.
func reportRequest(t *testing.T, accept string) []byte {
	t.Helper()
	var in map[string]map[string]map[string]any
	if err := json.Unmarshal(sampletest.Read(t, "funcs_customhandler_request_httpTrigger_docs.json"), &in); err != nil {
		t.Fatal(err)
	}
	req := in["Data"]["req"]
	req["Method"], req["Url"], req["Body"] = "GET", "https://aksguard.azurewebsites.net/api/report", ""
	req["Headers"] = map[string][]string{"Accept": {accept}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// res is the Report function's HTTP output binding as the host reads it.
func res(t *testing.T, got reply) httpResponse {
	t.Helper()
	var out struct {
		Outputs struct {
			Res httpResponse `json:"res"`
		} `json:"Outputs"`
	}
	if err := json.Unmarshal([]byte(got.Raw), &out); err != nil {
		t.Fatalf("answer %q: %v", got.Raw, err)
	}
	return out.Outputs.Res
}

// TestSweepAndReport: the Sweep timer lists the fleet and queues a read of
// each new cluster; once they are read, a second sweep records the KPIs,
// and the Report function answers them as JSON, or as the HTML page a
// browser asks for.
func TestSweepAndReport(t *testing.T) {
	r := sweepRig(t)
	if got := res(t, r.post(Report, reportRequest(t, "application/json"))); got.StatusCode != http.StatusOK || !strings.Contains(got.Body, `"empty":true`) {
		t.Errorf("Report before any sweep = %d %q, want 200 with an empty report", got.StatusCode, got.Body)
	}
	got := r.post(Sweep, timerInvocation(t))
	if got.Status != http.StatusOK || !hasLog(got.Logs, "sweep: 2 clusters in 1 subscriptions with 2 Resource Graph queries; 2 re-evaluations") {
		t.Fatalf("Sweep = %d %q", got.Status, got.Logs)
	}
	r.deliverDue(t0.Add(time.Minute))
	if got := r.post(Sweep, timerInvocation(t)); !hasLog(got.Logs, "0 re-evaluations") {
		t.Errorf("second Sweep = %q, want nothing to re-evaluate", got.Logs)
	}

	js := res(t, r.post(Report, reportRequest(t, "application/json")))
	var rep report.Report
	if err := json.Unmarshal([]byte(js.Body), &rep); err != nil || js.Headers["Content-Type"] != "application/json" {
		t.Fatalf("Report JSON = %q (%s): %v", js.Body, js.Headers["Content-Type"], err)
	}
	if rep.Latest.Clusters != 2 || rep.Latest.ComplianceRate != 0.5 || rep.Latest.FlaggedTotal != 1 || len(rep.History) != 1 {
		t.Errorf("report = %+v; want 2 clusters, 50%% compliant, one flagged, one day of history", rep.Latest)
	}
	page := res(t, r.post(Report, reportRequest(t, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")))
	if page.StatusCode != http.StatusOK || !strings.HasPrefix(page.Headers["Content-Type"], "text/html") {
		t.Fatalf("Report HTML = %d %s", page.StatusCode, page.Headers["Content-Type"])
	}
	for _, want := range []string{`data-kpi="complianceRate">50.0%<`, `data-kpi="clusters">2<`, "manCluster-5614", "<svg"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("page does not hold %q", want)
		}
	}
	// Nothing to fetch: no script, no link, no source, no CSS import or
	// url() (the SVG namespace is a name, not a fetch).
	for _, banned := range []string{"<script", "<link", "src=", "href=", "url(", "@import"} {
		if strings.Contains(page.Body, banned) {
			t.Errorf("page holds %q; it must be self-contained", banned)
		}
	}
}

// TestReportStoreDown: a report that cannot be read answers 503 to the
// client, and the invocation itself succeeds.
func TestReportStoreDown(t *testing.T) {
	r := newRig(t, func(o *Options, _ *guard.Config) {
		o.Report = func(context.Context) (report.Report, error) {
			return report.Report{}, guard.Errorf(guard.KindTransient, "table storage unavailable")
		}
	})
	got := r.post(Report, reportRequest(t, "text/html"))
	if out := res(t, got); got.Status != http.StatusOK || out.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("Report with the store down = %d, page %d %q; want 200, page 503", got.Status, out.StatusCode, out.Body)
	}
	if out := res(t, r.post(Report, []byte(`{"Data":{"req":"not a request"},"Metadata":{}}`))); out.StatusCode != http.StatusBadRequest {
		t.Errorf("Report of a malformed request = %d, want 400", out.StatusCode)
	}
}

func TestWantsHTML(t *testing.T) {
	for accept, want := range map[string]bool{
		"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8": true,
		"application/json":                  false,
		"*/*":                               false,
		"":                                  false,
		"application/json, text/html;q=0.5": false,
		"text/html;q=0.9, application/json;q=0.1": true,
	} {
		if got := wantsHTML(accept); got != want {
			t.Errorf("wantsHTML(%q) = %v, want %v", accept, got, want)
		}
	}
}
