package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/sampletest"
	"github.com/aksguard/aksguard/pkg/triage/triagetest"
)

func mustCluster(t testing.TB, s string) guard.ClusterID {
	t.Helper()
	id, err := armid.ParseCluster(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func hasLog(logs []string, part string) bool {
	for _, l := range logs {
		if strings.Contains(l, part) {
			return true
		}
	}
	return false
}

func TestClusterEventsSchemasAndEncodings(t *testing.T) {
	for _, schema := range []string{triagetest.EventGrid, triagetest.CloudEvent} {
		for _, enc := range []struct {
			name string
			enc  encoding
		}{{"object", asObject}, {"string", asString}, {"double-encoded string", asDoubleString}} {
			t.Run(schema+"/"+enc.name, func(t *testing.T) {
				r := newRig(t)
				got := r.postEvent(triagetest.Spec{Schema: schema, ID: "e1", Operation: opWrite, Resource: spCluster, Time: t0}, enc.enc)
				if got.Status != http.StatusOK || got.ContentType != "application/json" {
					t.Fatalf("POST ClusterEvents = %d %q, want 200 application/json; logs %q", got.Status, got.ContentType, got.Logs)
				}
				if diff := cmp.Diff(map[string]int{"flagged": 1}, got.ReturnValue); diff != "" {
					t.Errorf("ReturnValue mismatch (-want +got):\n%s", diff)
				}
				if !hasLog(got.Logs, "event e1: flagged manCluster-5614: service-principal") {
					t.Errorf("Logs = %q, want the flagged line", got.Logs)
				}
				if f := r.finding(mustCluster(t, spCluster)); f.State != guard.FindingOpen || f.SPClientID != "63113597-dbba-427d-82d3-94e4060d0e8b" {
					t.Errorf("finding = %s %q, want open with the SP's client id", f.State, f.SPClientID)
				}
			})
		}
	}
}

func TestClusterEventsBatch(t *testing.T) {
	r := newRig(t)
	batch := "[" + string(triagetest.JSON(t, triagetest.Spec{ID: "a", Operation: opWrite, Resource: spCluster, Time: t0})) + "," +
		string(triagetest.JSON(t, triagetest.Spec{Schema: triagetest.CloudEvent, ID: "b", Operation: opWrite, Resource: msiCluster, Time: t0})) + "," +
		string(sampletest.Read(t, "eventgrid_cloudevent_tags_write_thirdparty_test.json")) + "," +
		`{"eventType":"Microsoft.Resources.ResourceWriteSuccess","id":"broken","data":42}` + "]"
	got := r.post(ClusterEvents, envelope(t, eventBinding, []byte(batch), asString, nil))
	if got.Status != http.StatusOK {
		t.Fatalf("POST ClusterEvents = %d, want 200; logs %q", got.Status, got.Logs)
	}
	want := map[string]int{"flagged": 1, "evaluated": 1, "ignored": 1, "rejected": 1}
	if diff := cmp.Diff(want, got.ReturnValue); diff != "" {
		t.Errorf("ReturnValue mismatch (-want +got):\n%s", diff)
	}
	if !hasLog(got.Logs, "event broken: rejected: invalid event: event does not fit its schema: data is not a JSON object") {
		t.Errorf("Logs = %q, want the rejected event named with its reason", got.Logs)
	}
}

func TestBadRequests(t *testing.T) {
	r := newRig(t, func(o *Options, _ *guard.Config) { o.MaxBody = 4 << 10 })
	big := envelope(t, eventBinding, []byte(`{"pad":"`+strings.Repeat("x", 5<<10)+`"}`), asObject, nil)
	tests := []struct {
		name, method, path string
		body               []byte
		status             int
		log                string
	}{
		// Event Grid would retry a failed invocation for a day: answered 2xx.
		{"malformed JSON", "POST", "/ClusterEvents", []byte(`{"Data": {"event": `), http.StatusOK, "request body is not a Functions invocation"},
		{"oversized", "POST", "/ClusterEvents", big, http.StatusOK, "request body exceeds 4096 bytes"},
		// Service Bus dead-letters a message refused ten times: kept for a person.
		{"not an object", "POST", "/RemediationJobs", []byte(`[1,2]`), http.StatusBadRequest, "request body is not a Functions invocation"},
		{"oversized message", "POST", "/RemediationJobs", big, http.StatusRequestEntityTooLarge, "request body exceeds 4096 bytes"},
		{"unknown route", "POST", "/Audit", []byte(`{}`), http.StatusNotFound, "no function at POST /Audit"},
		{"wrong method", "GET", "/ClusterEvents", nil, http.StatusNotFound, "no function at GET /ClusterEvents"},
		{"missing binding", "POST", "/ClusterEvents", []byte(`{"Data":{"req":{}},"Metadata":{}}`), http.StatusOK, `Data has no "event" binding`},
		{"trigger value not JSON", "POST", "/ClusterEvents", envelope(t, eventBinding, []byte("hello"), asString, nil), http.StatusOK, "invalid event: event payload: want a JSON object or array; the input starts with 'h' at line 1, column 1"},
		// A bad message is refused too, so it ends in the dead-letter queue.
		{"message body not a message", "POST", "/RemediationJobs", message(t, `[1]`, "m1"), http.StatusBadRequest, "invalid message: body is not a queue message"},
		{"message without a cluster", "POST", "/RemediationJobs", message(t, `{"hello":1}`, "m2"), http.StatusBadRequest, `invalid message: resource ID ""`},
		{"message with a bad cluster", "POST", "/RemediationJobs", message(t, `{"kind":"job","clusterId":"/subscriptions/x","jobId":"j"}`, "m3"), http.StatusBadRequest, "invalid message: resource ID"},
		{"message of unknown kind", "POST", "/RemediationJobs", message(t, `{"kind":"reboot","clusterId":"`+spCluster+`"}`, "m4"), http.StatusBadRequest, `unknown message kind "reboot"`},
		{"message without a MessageId", "POST", "/RemediationJobs", message(t, `{"kind":"job","clusterId":"`+spCluster+`","jobId":"j"}`, ""), http.StatusBadRequest, "no MessageId"},
		{"job message without a jobId", "POST", "/RemediationJobs", message(t, `{"kind":"job","clusterId":"`+spCluster+`"}`, "m5"), http.StatusBadRequest, "job message names no jobId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.do(tt.method, tt.path, tt.body, nil)
			if got.Status != tt.status || !hasLog(got.Logs, tt.log) || got.ContentType != "application/json" {
				t.Errorf("%s %s = %d %q %q, want %d with a log containing %q", tt.method, tt.path, got.Status, got.ContentType, got.Logs, tt.status, tt.log)
			}
		})
	}
	want := map[string]int64{"ClusterEvents/bad-request": 2, "RemediationJobs/bad-request": 2, "unknown/not-found": 2,
		"ClusterEvents/rejected": 2, "RemediationJobs/rejected": 6}
	if diff := cmp.Diff(want, r.srv.Stats()); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
}

// message is a RemediationJobs invocation of body, with id as its
// MessageId unless id is empty.
func message(t *testing.T, body, id string) []byte {
	t.Helper()
	meta := map[string]any{"DeliveryCount": "1"}
	if id != "" {
		meta["MessageId"] = strconv.Quote(id)
	}
	return envelope(t, messageBinding, []byte(body), asString, meta)
}

// TestLogsAreBounded: a batch of many bad events is answered with a bounded
// Logs (each line becomes a host log entry), every event still counted.
func TestLogsAreBounded(t *testing.T) {
	r := newRig(t)
	var events []string
	for i := range 120 {
		events = append(events, fmt.Sprintf(`{"id":"bad-%d"}`, i))
	}
	got := r.post(ClusterEvents, envelope(t, eventBinding, []byte("["+strings.Join(events, ",")+"]"), asString, nil))
	if got.Status != http.StatusOK || got.ReturnValue["rejected"] != 120 {
		t.Fatalf("POST ClusterEvents = %d %v, want 200 with 120 rejected", got.Status, got.ReturnValue)
	}
	if len(got.Logs) != maxLogLines+1 || !strings.Contains(got.Logs[maxLogLines], "and 70 more lines") {
		t.Errorf("Logs = %d lines ending %q, want %d and a line saying 70 more", len(got.Logs), got.Logs[len(got.Logs)-1], maxLogLines+1)
	}
}

func TestReadiness(t *testing.T) {
	r := newRig(t)
	if got := r.do("GET", "/", nil, nil); got.Status != http.StatusOK {
		t.Errorf("GET / = %d, want 200 (the host probes it)", got.Status)
	}
}

func TestTransientFailureAsksForRetry(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		code       string
		retryAfter time.Duration
	}{
		{"server error", 500, "InternalServerError", 0},
		{"throttled", 429, "TooManyRequests", 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.fleet.FailNext("Get", 1, tt.status, tt.code, tt.retryAfter)
			ev := triagetest.Spec{ID: "e1", Operation: opWrite, Resource: spCluster, Time: t0}
			if got := r.postEvent(ev, asObject); got.Status != http.StatusInternalServerError || !hasLog(got.Logs, "event e1: retry:") {
				t.Fatalf("first delivery = %d %q, want 500 so Event Grid retries", got.Status, got.Logs)
			}
			if _, err := r.store.Finding(t.Context(), mustCluster(t, spCluster)); guard.KindOf(err) != guard.KindNotFound {
				t.Errorf("after a failed read the finding exists (err %v); want nothing recorded", err)
			}
			if got := r.postEvent(ev, asObject); got.Status != http.StatusOK || got.ReturnValue["flagged"] != 1 {
				t.Errorf("redelivery = %d %v, want 200 flagged", got.Status, got.ReturnValue)
			}
		})
	}
}

func TestForbiddenReadIsRecorded(t *testing.T) {
	r := newRig(t)
	r.fleet.FailNext("Get", 1, 403, "AuthorizationFailed", 0)
	got := r.postEvent(triagetest.Spec{ID: "e1", Operation: opWrite, Resource: spCluster, Time: t0}, asObject)
	if got.Status != http.StatusOK || got.ReturnValue["failed"] != 1 || !hasLog(got.Logs, "AuthorizationFailed") {
		t.Fatalf("POST = %d %v %q, want 200 failed naming AuthorizationFailed (retrying will not help)", got.Status, got.ReturnValue, got.Logs)
	}
	entries, err := r.store.Audit(t.Context(), mustCluster(t, spCluster))
	if err != nil || len(entries) != 1 || entries[0].Action != "unreadable" || !strings.Contains(entries[0].Detail, "AuthorizationFailed") {
		t.Errorf("Audit() = %+v, %v; want one unreadable entry naming the error", entries, err)
	}
}

// TestBurstIsIdempotent: Event Grid delivers at least once, and a cluster
// create comes with agent-pool writes. Twenty events in a minute — both
// schemas, duplicates, pools — give one finding, one job, one queued
// message, one alert and at most two ARM reads, counted on the SDK fake.
func TestBurstIsIdempotent(t *testing.T) {
	r := newRig(t)
	var burst []triagetest.Spec
	for i := range 20 {
		s := triagetest.Spec{ID: "create", Operation: opWrite, Resource: spCluster, Time: t0}
		if i%4 != 0 {
			s = triagetest.Spec{ID: "pool-" + string(rune('a'+i)), Operation: opPool, Resource: spCluster + "/agentPools/pool" + string(rune('a'+i)),
				Time: t0.Add(time.Duration(i) * 2 * time.Second)}
		}
		if i%2 == 1 {
			s.Schema = triagetest.CloudEvent
		}
		burst = append(burst, s)
	}
	for i, s := range burst {
		r.clock.set(s.Time.Add(2 * time.Second)) // events arrive after they happen
		if got := r.postEvent(s, encoding(i%3)); got.Status != http.StatusOK {
			t.Fatalf("event %d = %d %q", i, got.Status, got.Logs)
		}
	}
	id := mustCluster(t, spCluster)
	findings, err := r.store.Findings(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) != 1 || findings[0].State != guard.FindingOpen {
		t.Errorf("findings = %+v, want one open", findings)
	}
	if js := r.jobs(); len(js) != 1 || js[0].State != guard.JobAwaitingApproval {
		t.Errorf("jobs = %+v, want one awaiting approval", js)
	}
	if sent := r.queue.Sent(); len(sent) != 1 || sent[0].Kind != guard.MessageJob {
		t.Errorf("queued messages = %+v, want one job wake-up", sent)
	}
	if al := r.alerts.Published(); len(al) != 1 || al[0].Type != guard.AlertFlagged || al[0].Cluster != id {
		t.Errorf("alerts = %+v, want one flagged alert for the cluster", al)
	}
	if n := r.fleet.Calls("Get"); n != 1 {
		t.Errorf("ARM reads during the burst = %d, want 1", n)
	}
	// The create's four repeats are dropped by their event id; the pool
	// writes are folded into the job's first read.
	want := map[string]int64{"ClusterEvents/flagged": 1, "ClusterEvents/duplicate": 4, "ClusterEvents/coalesced": 15}
	if diff := cmp.Diff(want, r.srv.Stats()); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}

	// The job's first wake-up is the one re-read that covers the burst.
	replies := r.deliverDue(t0.Add(2 * time.Minute))
	if len(replies) != 1 || replies[0].Status != http.StatusOK || replies[0].ReturnValue["parked"] != 1 {
		t.Errorf("job wake-up = %+v, want one 200 parked", replies)
	}
	if n := r.fleet.Calls("Get"); n != 2 {
		t.Errorf("ARM reads after the wake-up = %d, want 2", n)
	}
	if al := r.alerts.Published(); len(al) != 1 {
		t.Errorf("alerts after the wake-up = %d, want still 1", len(al))
	}
}

func TestEventsOfTheGuardItselfCauseNoWork(t *testing.T) {
	r := newRig(t)
	got := r.postEvent(triagetest.Spec{ID: "self", Operation: opWrite, Resource: spCluster, Time: t0,
		Claims: map[string]string{"http://schemas.microsoft.com/identity/claims/objectidentifier": "C0FFEE00-1D2E-4F3A-8B9C-0D1E2F3A4B5C"}}, asObject)
	if got.ReturnValue["ignored"] != 1 || !hasLog(got.Logs, "caused by the guard's own identity") {
		t.Errorf("POST = %v %q, want ignored as the guard's own", got.ReturnValue, got.Logs)
	}
	if n := r.fleet.Calls("Get"); n != 0 {
		t.Errorf("ARM reads = %d, want 0", n)
	}
}

// TestAUserIsNotTheClientApp holds issue 7's rule on appid: a person's
// token names the app they signed in with as appid. With that app's id
// among the guard's own ids, the person's event is still work; the app's
// own event (no user, no scopes) is the guard's.
func TestAUserIsNotTheClientApp(t *testing.T) {
	const client = "c0ffee00-1d2e-4f3a-8b9c-0d1e2f3a4b5c" // in the rig's Self
	for _, tt := range []struct {
		name   string
		claims map[string]string
		want   string
	}{
		{"user with a UPN", map[string]string{"appid": client, "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "dana@contoso.com"}, "flagged"},
		{"guest user with scopes only", map[string]string{"appid": client, "http://schemas.microsoft.com/identity/claims/scope": "user_impersonation"}, "flagged"},
		{"the application itself", map[string]string{"appid": client}, "ignored"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			got := r.postEvent(triagetest.Spec{ID: "e", Operation: opWrite, Resource: spCluster, Time: t0, Claims: tt.claims}, asObject)
			if got.ReturnValue[tt.want] != 1 {
				t.Errorf("POST = %v %q, want %s", got.ReturnValue, got.Logs, tt.want)
			}
		})
	}
}

func TestRemediationJobsMessage(t *testing.T) {
	r := newRig(t)
	r.postEvent(triagetest.Spec{ID: "e1", Operation: opWrite, Resource: spCluster, Time: t0}, asObject)
	sent := r.queue.Sent()
	if len(sent) != 1 {
		t.Fatalf("queued = %+v, want one", sent)
	}
	r.clock.set(t0.Add(2 * time.Minute))
	for _, enc := range []encoding{asDoubleString, asString, asObject} {
		got := r.deliver(sent[0], enc)
		if got.Status != http.StatusOK {
			t.Fatalf("deliver(%d) = %d %q", enc, got.Status, got.Logs)
		}
	}
	// The first delivery parks the job and schedules its next check; the
	// two repeats are stale timers and change nothing.
	want := map[string]int64{"ClusterEvents/flagged": 1, "RemediationJobs/parked": 1, "RemediationJobs/duplicate": 2}
	if diff := cmp.Diff(want, r.srv.Stats()); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
	if js := r.jobs(); len(js) != 1 || js[0].WakeSeq != 2 || !js[0].NextWake.Equal(t0.Add(2*time.Minute+15*time.Minute)) {
		t.Errorf("job = %+v, want parked with its second timer 15 minutes on", js)
	}
	if !strings.Contains(r.logs.String(), `"message_id":"`+sent[0].ID+`"`) {
		t.Errorf("logs lack the message id %q", sent[0].ID)
	}
}

// failingStore fails job saves, as Table Storage does when unreachable.
type failingStore struct {
	guard.Store
}

func (failingStore) SaveJob(context.Context, *guard.Job) error {
	return guard.Errorf(guard.KindTransient, "table storage unavailable")
}

func TestRemediationJobsAsksForRedeliveryWhenStateCannotBeSaved(t *testing.T) {
	r := newRig(t)
	r.postEvent(triagetest.Spec{ID: "e1", Operation: opWrite, Resource: spCluster, Time: t0}, asObject)
	broken := newRig(t, func(_ *Options, c *guard.Config) { c.Store = failingStore{r.store}; c.Clusters = r.fleet.Client() })
	broken.clock.set(t0.Add(2 * time.Minute))
	got := broken.deliver(r.queue.Sent()[0], asString)
	if got.Status != http.StatusInternalServerError || !hasLog(got.Logs, "table storage unavailable") {
		t.Errorf("deliver = %d %q, want 500 naming the storage failure", got.Status, got.Logs)
	}
}

func TestInvocationIDIsLogged(t *testing.T) {
	r := newRig(t)
	body := envelope(t, eventBinding, triagetest.JSON(t, triagetest.Spec{ID: "e1", Operation: opWrite, Resource: spCluster, Time: t0}), asObject, nil)
	r.do("POST", "/ClusterEvents", body, http.Header{"X-Azure-Functions-Invocationid": {"inv-42"}})
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(r.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["invocation_id"] == "inv-42" && rec["event_id"] == "e1" && rec["cluster_id"] == mustCluster(t, spCluster).String() && rec["result"] == "flagged" {
			found = true
		}
	}
	if !found {
		t.Errorf("no log record with invocation_id, event_id, cluster_id and result; logs:\n%s", r.logs)
	}
}

// gatedClusters holds every cluster read until release is closed, after
// saying on entered that one began.
type gatedClusters struct {
	guard.Clusters
	once             sync.Once
	entered, release chan struct{}
}

func (g *gatedClusters) GetCluster(ctx context.Context, id guard.ClusterID) (guard.Cluster, error) {
	g.once.Do(func() { close(g.entered) })
	<-g.release
	return g.Clusters.GetCluster(ctx, id)
}

// TestServeShutsDownGracefully: a stop signal lets the invocation in flight
// finish and answer before Serve returns.
func TestServeShutsDownGracefully(t *testing.T) {
	gate := &gatedClusters{entered: make(chan struct{}), release: make(chan struct{})}
	r := newRig(t, func(_ *Options, c *guard.Config) { gate.Clusters = c.Clusters; c.Clusters = gate })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.srv.Serve(ctx, l, 5*time.Second) }()
	answered := make(chan int, 1)
	go func() {
		resp, err := http.Post("http://"+l.Addr().String()+"/ClusterEvents", "application/json",
			bytes.NewReader(envelope(t, eventBinding, triagetest.JSON(t, triagetest.Spec{ID: "e1", Operation: opWrite, Resource: spCluster, Time: t0}), asObject, nil)))
		if err != nil {
			t.Errorf("the invocation in flight was cut: %v", err)
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	<-gate.entered // the invocation is reading the cluster
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Serve() returned (%v) while an invocation was running", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(gate.release)
	if status := <-answered; status != http.StatusOK {
		t.Errorf("the invocation in flight answered %d, want 200", status)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve() = %v, want nil after a graceful shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve() did not return after its context ended")
	}
	if _, err := http.Get("http://" + l.Addr().String() + "/"); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("GET after shutdown succeeded; want the listener closed")
	}
}

// TestMessagesFromANewerVersion: a body with a field this version does not
// know still wakes the job, so a rolling deployment loses no wake-up.
func TestMessagesFromANewerVersion(t *testing.T) {
	r := newRig(t)
	r.postEvent(triagetest.Spec{ID: "e1", Operation: opWrite, Resource: spCluster, Time: t0}, asObject)
	m := r.queue.Sent()[0]
	body := `{"kind":"job","clusterId":"` + spCluster + `","jobId":"` + m.JobID + `","seq":1,"reason":"job created","priority":"high"}`
	r.clock.set(t0.Add(2 * time.Minute))
	got := r.post(RemediationJobs, envelope(t, messageBinding, []byte(body), asString, map[string]any{"MessageId": `"` + m.ID + `"`}))
	if got.Status != http.StatusOK || got.ReturnValue["parked"] != 1 {
		t.Errorf("deliver = %d %v %q, want the job woken (parked)", got.Status, got.ReturnValue, got.Logs)
	}
}

// timerInvocation is the Functions host's invocation of a timer trigger:
// the binding's TimerInfo (schedule, status, past due) and the host's
// metadata.
func timerInvocation(t *testing.T) []byte {
	t.Helper()
	timer := []byte(`{"Schedule":{"AdjustForDST":true},"ScheduleStatus":{"Last":"2026-11-27T09:00:00+00:00","Next":"2026-11-27T09:05:00+00:00","LastUpdated":"2026-11-27T09:00:00+00:00"},"IsPastDue":false}`)
	return envelope(t, "timer", timer, asObject, map[string]any{"sys": map[string]any{"MethodName": "Reconcile", "UtcNow": "2026-11-27T09:05:00Z"}})
}

// TestReconcileSendsOverdueWakeUps: a job whose wake-up was lost is woken
// again by the Reconcile timer; a store that cannot be read answers 500.
func TestReconcileSendsOverdueWakeUps(t *testing.T) {
	r := newRig(t)
	r.postEvent(triagetest.Spec{ID: "e1", Operation: opWrite, Resource: spCluster, Time: t0}, asObject)
	lost := r.queue.Due(t0.Add(time.Hour)) // the job's first wake-up never arrives
	if len(lost) != 1 {
		t.Fatalf("queued = %+v, want the job's wake-up", lost)
	}
	r.clock.set(t0.Add(10 * time.Minute))
	got := r.post(Reconcile, timerInvocation(t))
	if got.Status != http.StatusOK || !hasLog(got.Logs, "reconcile: 1 wake-ups sent again") {
		t.Fatalf("Reconcile = %d %q, want 200, one wake-up sent again", got.Status, got.Logs)
	}
	again := r.queue.Due(t0.Add(time.Hour))
	if len(again) != 1 || again[0].JobID != lost[0].JobID || again[0].Seq != lost[0].Seq || again[0].ID == lost[0].ID {
		t.Errorf("sent again %+v; want the job's timer %d under a new id", again, lost[0].Seq)
	}
	if got := r.deliver(again[0], asString); got.Status != http.StatusOK || !hasLog(got.Logs, "parked") {
		t.Errorf("deliver(the wake-up sent again) = %d %q, want the job to take it as its own", got.Status, got.Logs)
	}

	broken := newRig(t, func(_ *Options, c *guard.Config) { c.Store = unreadableStore{r.store} })
	if got := broken.post(Reconcile, timerInvocation(t)); got.Status != http.StatusInternalServerError {
		t.Errorf("Reconcile with the store down = %d %q, want 500", got.Status, got.Logs)
	}
}

// unreadableStore fails the queries Reconcile makes.
type unreadableStore struct{ guard.Store }

func (unreadableStore) DueJobs(context.Context, time.Time) ([]guard.Job, error) {
	return nil, guard.Errorf(guard.KindTransient, "table storage unavailable")
}
