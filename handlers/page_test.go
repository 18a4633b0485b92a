package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aksguard/aksguard/pkg/browsertest"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/report"
)

// TestReportPageInChromium loads the page the Report function answers in
// headless Chromium, as a browser gets it through the Functions host (the
// function's headers and body), and checks that every figure it shows is
// the one the same function answers as JSON; it saves a screenshot as a
// build artefact.
func TestReportPageInChromium(t *testing.T) {
	browsertest.Chromium(t)
	r := sweepRig(t)
	r.post(Sweep, timerInvocation(t))
	r.deliverDue(t0.Add(time.Minute))
	r.clock.set(t0.Add(26 * time.Hour)) // the findings are a day old
	r.post(Sweep, timerInvocation(t))

	js := res(t, r.post(Report, reportRequest(t, "application/json")))
	var rep report.Report
	if err := json.Unmarshal([]byte(js.Body), &rep); err != nil {
		t.Fatal(err)
	}
	page := res(t, r.post(Report, reportRequest(t, "text/html")))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for k, v := range page.Headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(page.StatusCode)
		w.Write([]byte(page.Body))
	}))
	defer srv.Close()

	dom := browsertest.DOM(t, srv.URL)
	k := rep.Latest
	want := map[string]string{
		"complianceRate":   report.Percent(k.ComplianceRate),
		"clusters":         strconv.Itoa(k.Clusters),
		"servicePrincipal": strconv.Itoa(k.ServicePrincipal),
		"flaggedTotal":     strconv.Itoa(k.FlaggedTotal),
		"approvalsPending": strconv.Itoa(k.ApprovalsPending),
		"kubeletPending":   strconv.Itoa(k.KubeletPending),
		"incidents":        strconv.Itoa(k.Incidents),
		"caughtAtCreation": strconv.Itoa(k.CaughtAtCreation),
		"policyAssigned":   strconv.Itoa(k.Policy.Assigned),
		"policyDisagree":   strconv.Itoa(k.Policy.DisagreeTotal),
	}
	shown := map[string]string{}
	for _, m := range regexp.MustCompile(`data-kpi="([^"]+)">([^<]*)<`).FindAllStringSubmatch(dom, -1) {
		shown[m[1]] = m[2]
	}
	for name, v := range want {
		if shown[name] != v {
			t.Errorf("page shows %s = %q, the JSON says %q", name, shown[name], v)
		}
	}
	for state, n := range k.Findings {
		if !strings.Contains(dom, fmt.Sprintf(`data-state="%s" data-count="%d"`, state, n)) {
			t.Errorf("the findings chart lacks %s = %d", state, n)
		}
	}
	for bucket, n := range k.OpenByAge {
		if !strings.Contains(dom, fmt.Sprintf(`data-age="%s">%s: %d<`, bucket, strings.ReplaceAll(strings.ReplaceAll(bucket, "<", "&lt;"), ">", "&gt;"), n)) {
			t.Errorf("the page lacks open findings %s = %d", bucket, n)
		}
	}
	rows := strings.Count(dom[strings.Index(dom, `id="flagged"`):], "<tr>") - 1 // less the header
	if len(k.Flagged) == 0 || rows < len(k.Flagged) || !strings.Contains(dom, "manCluster-5614") {
		t.Errorf("the flagged table has %d rows for %d flagged clusters", rows, len(k.Flagged))
	}
	if k.Clusters != 2 || k.OpenByAge["1-7d"] != 1 || k.Findings[guard.FindingOpen] != 1 {
		t.Errorf("KPIs = %+v; want the rig's two clusters, one open finding a day old", k)
	}

	png := browsertest.Screenshot(t, srv.URL, "report.png", 1280, 1600)
	b, err := os.ReadFile(png)
	if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) || len(b) < 10_000 {
		t.Errorf("screenshot %s: %d bytes, %v; want a PNG", png, len(b), err)
	}
	t.Logf("screenshot: %s", png)
}
