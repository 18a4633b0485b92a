package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/memory"
	"github.com/aksguard/aksguard/pkg/sampletest"
	"github.com/aksguard/aksguard/pkg/triage/triagetest"
)

// benchRig is the handler over the simulated fleet and the in-memory store,
// queue and alert sink, logging JSON as serve does (to io.Discard, so the
// cost of formatting the log lines is measured, not that of a terminal).
type benchRig struct {
	*rig
	handler http.Handler
}

func newBenchRig(b *testing.B) *benchRig {
	b.Helper()
	r := newRig(b, func(o *Options, c *guard.Config) {
		o.Log = slog.New(slog.NewJSONHandler(io.Discard, nil))
		c.Store = memory.NewStore() // the intake's own cost, without storage round trips
	})
	return &benchRig{rig: r, handler: r.srv.Handler()}
}

// serve hands one ClusterEvents invocation to the handler, with no network.
func (r *benchRig) serve(body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/"+ClusterEvents, bytes.NewReader(body))
	req.Header.Set("X-Azure-Functions-InvocationId", "5a4f1c2e-0c51-4c0e-9d3b-2f7e1a6b8c90")
	rec := httptest.NewRecorder()
	r.handler.ServeHTTP(rec, req)
	return rec
}

// expect fails the benchmark unless the handler answers body with 200 and
// the given ReturnValue.
func (r *benchRig) expect(b *testing.B, body []byte, want map[string]int) {
	b.Helper()
	rec := r.serve(body)
	var got struct {
		Logs        []string
		ReturnValue map[string]int
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusOK {
		b.Fatalf("POST ClusterEvents = %d %q (%v), want 200", rec.Code, rec.Body.Bytes(), err)
	}
	if diff := cmp.Diff(want, got.ReturnValue); diff != "" {
		b.Fatalf("POST ClusterEvents ReturnValue mismatch (-want +got):\n%s\nlogs %q", diff, got.Logs)
	}
}

// eventBody is one event as the host delivers it: a JSON string in the
// envelope's Data.
func eventBody(b *testing.B, s triagetest.Spec) []byte {
	b.Helper()
	return envelope(b, eventBinding, triagetest.JSON(b, s), asString, nil)
}

// flagged returns a rig whose SP cluster was flagged at t0+10s, after an
// event of the given schema that happened at t0, with the clock at t0+20s:
// within the debounce, with the job's re-check scheduled at t0+70s.
func flagged(b *testing.B, schema string) *benchRig {
	b.Helper()
	r := newBenchRig(b)
	r.clock.set(t0.Add(10 * time.Second))
	r.expect(b, eventBody(b, triagetest.Spec{Schema: schema, ID: "create", Operation: opWrite, Resource: spCluster,
		Time: t0, Claims: triagetest.DocsClaims(b)}), map[string]int{"flagged": 1})
	r.clock.set(t0.Add(20 * time.Second))
	return r
}

// BenchmarkIntakePerEvent is the per-event intake cost without Azure calls:
// the host envelope decoded, the event decoded and triaged, and
// guard.Service.HandleEvent, for events the intake answers from its own
// finding without reading ARM — the bulk of a burst under Event Grid's
// at-least-once delivery. The event is the Microsoft docs'
// ResourceWriteSuccess sample (full claims, about 2.2 KB compacted) pointed
// at the cluster, handed to the handler's http.Handler with no network; the
// request and recorder add about 5 µs and 24 allocations (measured around
// an empty handler). The in-memory store copies each record through JSON,
// as a real store decodes it.
func BenchmarkIntakePerEvent(b *testing.B) {
	for _, schema := range []string{triagetest.EventGrid, triagetest.CloudEvent} {
		// A repeat delivery of the event the finding already covers.
		b.Run("duplicate/"+schema, func(b *testing.B) {
			r := flagged(b, schema)
			body := eventBody(b, triagetest.Spec{Schema: schema, ID: "create", Operation: opWrite, Resource: spCluster,
				Time: t0, Claims: triagetest.DocsClaims(b)})
			r.measure(b, body, map[string]int{"duplicate": 1})
		})
		// An agent-pool write after the read, folded into the re-check
		// already scheduled.
		b.Run("coalesced/"+schema, func(b *testing.B) {
			r := flagged(b, schema)
			body := eventBody(b, triagetest.Spec{Schema: schema, ID: "pool", Operation: opPool,
				Resource: spCluster + "/agentPools/nodepool1", Time: t0.Add(15 * time.Second), Claims: triagetest.DocsClaims(b)})
			r.measure(b, body, map[string]int{"coalesced": 1})
		})
	}
	// The docs sample's event as it is: a storage account write, which
	// triage ignores before the guard looks at any record. (The sample is a
	// one-event batch; the trigger hands over the event alone.)
	b.Run("ignored", func(b *testing.B) {
		r := newBenchRig(b)
		var batch []json.RawMessage
		if err := json.Unmarshal(sampletest.Read(b, "eventgrid_egschema_ResourceWriteSuccess_docs_rg.json"), &batch); err != nil || len(batch) != 1 {
			b.Fatalf("docs sample: %d events, %v; want one", len(batch), err)
		}
		body := envelope(b, eventBinding, batch[0], asString, nil)
		r.measure(b, body, map[string]int{"ignored": 1})
	})
	// A cluster write after the debounce: the intake reads the cluster
	// again (through the SDK's fake ARM transport, so without the network
	// round trip) and records the unchanged verdict.
	b.Run("reread", func(b *testing.B) {
		r := flagged(b, triagetest.EventGrid)
		const placeholder = "reread-000000000"
		at := t0.Add(20 * time.Second)
		body := eventBody(b, triagetest.Spec{ID: placeholder, Operation: opWrite, Resource: spCluster, Time: at, Claims: triagetest.DocsClaims(b)})
		reads := r.fleet.Calls("Get")
		n := 0
		b.ReportAllocs()
		for b.Loop() {
			n++
			at = at.Add(2 * time.Minute) // past the 60s debounce
			r.clock.set(at.Add(time.Second))
			rec := r.serve(bytes.Replace(body, []byte(placeholder), fmt.Appendf(nil, "reread-%09d", n), 1))
			if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"evaluated":1`)) {
				b.Fatalf("POST ClusterEvents = %d %q, want 200 evaluated", rec.Code, rec.Body.Bytes())
			}
		}
		if got := r.fleet.Calls("Get") - reads; got != n {
			b.Errorf("ARM reads while measuring = %d, want one per event (%d)", got, n)
		}
	})
}

// measure runs body through the handler b.N times and checks that no
// iteration read ARM.
func (r *benchRig) measure(b *testing.B, body []byte, want map[string]int) {
	b.Helper()
	r.expect(b, body, want)
	reads := r.fleet.Calls("Get")
	b.ReportAllocs()
	for b.Loop() {
		if rec := r.serve(body); rec.Code != http.StatusOK {
			b.Fatalf("POST ClusterEvents = %d %q, want 200", rec.Code, rec.Body.Bytes())
		}
	}
	if n := r.fleet.Calls("Get") - reads; n != 0 {
		b.Errorf("ARM reads while measuring = %d, want 0", n)
	}
}

// BenchmarkHandlerLoopback is the handler's throughput over real loopback
// HTTP with keep-alive connections, GOMAXPROCS clients in parallel, for
// repeat deliveries (duplicates) of one event.
func BenchmarkHandlerLoopback(b *testing.B) {
	r := flagged(b, triagetest.EventGrid)
	body := eventBody(b, triagetest.Spec{ID: "create", Operation: opWrite, Resource: spCluster, Time: t0, Claims: triagetest.DocsClaims(b)})
	r.expect(b, body, map[string]int{"duplicate": 1})
	ts := httptest.NewServer(r.handler)
	b.Cleanup(ts.Close)
	tr := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := ts.URL + "/" + ClusterEvents
	reads := r.fleet.Calls("Get")

	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, err := http.NewRequestWithContext(b.Context(), http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Errorf("POST ClusterEvents = %d (%v), want 200", resp.StatusCode, err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if n := r.fleet.Calls("Get") - reads; n != 0 {
		b.Errorf("ARM reads while measuring = %d, want 0", n)
	}
}
