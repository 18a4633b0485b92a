package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aksguard/aksguard/pkg/azurefake"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/memory"
	"github.com/aksguard/aksguard/pkg/sampletest"
	"github.com/aksguard/aksguard/pkg/storetest"
	"github.com/aksguard/aksguard/pkg/triage/triagetest"
)

// Clusters of the test fleet: two real recorded GET bodies.
const (
	spCluster  = "/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourcegroups/rg-4149/providers/Microsoft.ContainerService/managedClusters/manCluster-5614"
	msiCluster = "/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourcegroups/testaksrg2107/providers/Microsoft.ContainerService/managedClusters/akscluster4379"
	opWrite    = "Microsoft.ContainerService/managedClusters/write"
	opPool     = "Microsoft.ContainerService/managedClusters/agentPools/write"
)

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }

// rig is the handler on a real HTTP server, over the simulated fleet, the
// in-memory queue and alert sink, and a store: Table Storage on Azurite
// when scripts/test.sh runs one, else the in-memory store.
type rig struct {
	t      testing.TB
	fleet  *azurefake.Fleet
	store  guard.Store
	queue  *memory.Queue
	alerts *memory.Alerts
	clock  *clock
	srv    *Server
	url    string
	logs   *syncBuffer
}

type rigOption func(*Options, *guard.Config)

func newRig(t testing.TB, opts ...rigOption) *rig {
	t.Helper()
	fleet, err := azurefake.LoadFleet(bytes.NewReader(sampletest.Array(t,
		"aks_get_sp_realguid_sdknet_recording.json", "aks_get_systemassigned_msi_kubeletidentity_sdknet_recording.json")))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, fleet: fleet, queue: memory.NewQueue(), alerts: &memory.Alerts{},
		clock: &clock{now: t0}, logs: &syncBuffer{}}
	directory, roles := azurefake.NewGraph(), azurefake.NewRBAC().Client()
	t.Cleanup(directory.Close)
	cfg := guard.Config{Clusters: fleet.Client(), Queue: r.queue, Alerts: r.alerts, Now: r.clock.Now,
		Directory: directory.Client(), Roles: roles, Permissions: roles, History: fleet.ResourceGraph(), Inventory: fleet.ResourceGraph(),
		Self: []string{"c0ffee00-1d2e-4f3a-8b9c-0d1e2f3a4b5c"}}
	o := Options{Log: slog.New(slog.NewJSONHandler(r.logs, nil))}
	for _, opt := range opts {
		opt(&o, &cfg)
	}
	if cfg.Store == nil {
		cfg.Store = storetest.Store(t)
	}
	r.store = cfg.Store
	svc, err := guard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = New(svc, o)
	ts := httptest.NewServer(r.srv.Handler())
	t.Cleanup(ts.Close)
	r.url = ts.URL
	return r
}

// reply is the host's view of an answer.
type reply struct {
	Status      int
	ContentType string
	Logs        []string
	ReturnValue map[string]int
	// Raw is the answer's body as sent.
	Raw string
}

func (r *rig) do(method, path string, body []byte, header http.Header) reply {
	r.t.Helper()
	req, err := http.NewRequestWithContext(r.t.Context(), method, r.url+path, bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	var out struct {
		Logs        []string        `json:"Logs"`
		ReturnValue json.RawMessage `json:"ReturnValue"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		r.t.Fatalf("%s %s answered %d with a body that is not JSON: %q", method, path, resp.StatusCode, raw)
	}
	// Most functions return counts by result; the others leave it nil.
	var counts map[string]int
	_ = json.Unmarshal(out.ReturnValue, &counts)
	return reply{resp.StatusCode, resp.Header.Get("Content-Type"), out.Logs, counts, string(raw)}
}

func (r *rig) post(function string, envelope []byte) reply {
	r.t.Helper()
	return r.do(http.MethodPost, "/"+function, envelope, nil)
}

// encoding says how the host hands a trigger value over.
type encoding int

const (
	asObject encoding = iota
	asString
	asDoubleString
)

// envelope wraps a trigger value as the host does.
func envelope(t testing.TB, binding string, value []byte, enc encoding, metadata map[string]any) []byte {
	t.Helper()
	var v any = json.RawMessage(value)
	switch enc {
	case asString:
		v = string(value)
	case asDoubleString:
		v = strconv.Quote(string(value))
	}
	if metadata == nil {
		metadata = map[string]any{}
	}
	metadata["sys"] = map[string]any{"MethodName": binding, "UtcNow": t0.Format(time.RFC3339Nano)}
	b, err := json.Marshal(map[string]any{"Data": map[string]any{binding: v}, "Metadata": metadata})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// postEvent delivers one event at the time the clock shows.
func (r *rig) postEvent(s triagetest.Spec, enc encoding) reply {
	r.t.Helper()
	return r.post(ClusterEvents, envelope(r.t, eventBinding, triagetest.JSON(r.t, s), enc, nil))
}

// deliver hands a queue message to RemediationJobs the way the Service Bus
// trigger does: the body as a string, id and delivery count in Metadata.
func (r *rig) deliver(m guard.Message, enc encoding) reply {
	r.t.Helper()
	body, err := json.Marshal(m.Body())
	if err != nil {
		r.t.Fatal(err)
	}
	return r.post(RemediationJobs, envelope(r.t, messageBinding, body, enc,
		map[string]any{"MessageId": strconv.Quote(m.ID), "DeliveryCount": "1"}))
}

// deliverDue lets the clock run to t and delivers what falls due.
func (r *rig) deliverDue(t time.Time) []reply {
	r.t.Helper()
	r.clock.set(t)
	var out []reply
	for _, m := range r.queue.Due(t) {
		out = append(out, r.deliver(m, asString))
	}
	return out
}

func (r *rig) finding(id guard.ClusterID) guard.Finding {
	r.t.Helper()
	f, err := r.store.Finding(context.Background(), id)
	if err != nil {
		r.t.Fatalf("Finding(%s): %v", id, err)
	}
	return f
}

func (r *rig) jobs() []guard.Job {
	r.t.Helper()
	js, err := r.store.Jobs(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return js
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
