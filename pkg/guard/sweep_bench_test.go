package guard_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resourcegraph/armresourcegraph"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resourcegraph/armresourcegraph/fake"

	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/memory"
	"github.com/aksguard/aksguard/pkg/report"
	"github.com/aksguard/aksguard/pkg/resourcegraph"
)

// synthetic is a Resource Graph of n clusters over subs subscriptions,
// made up row by row as pages are asked for, so the fake holds no fleet:
// cluster i is in subscription i%subs, and every third uses a managed
// identity. It pages as Resource Graph does and counts its queries and the
// time it spends making rows.
type synthetic struct {
	n, subs int
	queries atomic.Int64
	mu      sync.Mutex
	batches map[string][]int // the clusters of a batch of subscriptions, in id order
}

// batch returns the clusters in subs, in id order as the query's "order
// by id" asks, computed once per batch.
func (s *synthetic) batch(subs []*string) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := *subs[0] + strconv.Itoa(len(subs))
	if ids, ok := s.batches[k]; ok {
		return ids
	}
	in := map[string]bool{}
	for _, sub := range subs {
		in[*sub] = true
	}
	var ids []int
	for i := range s.n {
		if in[s.subscription(i%s.subs)] {
			ids = append(ids, i)
		}
	}
	slices.SortFunc(ids, func(a, b int) int {
		return strings.Compare(strings.ToLower(s.clusterID(a)), strings.ToLower(s.clusterID(b)))
	})
	if s.batches == nil {
		s.batches = map[string][]int{}
	}
	s.batches[k] = ids
	return ids
}

func (s *synthetic) subscription(i int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-000000000000", i)
}

func (s *synthetic) clusterID(i int) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/rg-%d/providers/Microsoft.ContainerService/managedClusters/aks-%06d", s.subscription(i%s.subs), i%50, i)
}

func (s *synthetic) row(i int) map[string]any {
	props := map[string]any{
		"servicePrincipalProfile": map[string]any{"clientId": "63113597-dbba-427d-82d3-94e4060d0e8b"},
		"agentPoolProfiles":       []any{map[string]any{"name": "system", "nodeImageVersion": "AKSUbuntu-2204gen2containerd-202610.01.0"}},
	}
	row := map[string]any{"id": s.clusterID(i), "type": "microsoft.containerservice/managedclusters",
		"tags": map[string]any{"env": "prod"}, "properties": props, "policyState": "", "policyAt": ""}
	if i%3 == 0 {
		row["identity"] = map[string]any{"type": "SystemAssigned", "principalId": "8d1f0a3e-5b6c-4d7e-9f80-a1b2c3d4e5f6"}
		props["servicePrincipalProfile"] = map[string]any{"clientId": "msi"}
	}
	return row
}

func (s *synthetic) resources(_ context.Context, q armresourcegraph.QueryRequest, _ *armresourcegraph.ClientResourcesOptions) (resp azfake.Responder[armresourcegraph.ClientResourcesResponse], errResp azfake.ErrorResponder) {
	s.queries.Add(1)
	top, skip := 1000, 0
	if q.Options.SkipToken != nil {
		skip, _ = strconv.Atoi(*q.Options.SkipToken)
	}
	var ids []int // what this query lists, in order
	if strings.HasPrefix(*q.Query, "resourcecontainers") {
		for i := range s.subs {
			ids = append(ids, i)
		}
	} else {
		ids = s.batch(q.Subscriptions)
	}
	end := min(skip+top, len(ids))
	rows := make([]any, 0, end-skip)
	for _, i := range ids[skip:end] {
		if strings.HasPrefix(*q.Query, "resourcecontainers") {
			rows = append(rows, map[string]any{"id": "/subscriptions/" + s.subscription(i), "subscriptionId": s.subscription(i)})
		} else {
			rows = append(rows, s.row(i))
		}
	}
	r := armresourcegraph.QueryResponse{Data: rows}
	if end < len(ids) {
		r.SkipToken = to.Ptr(strconv.Itoa(end))
	}
	resp.SetResponse(http.StatusOK, armresourcegraph.ClientResourcesResponse{QueryResponse: r}, nil)
	return resp, errResp
}

// seed records every cluster of syn as its re-evaluation would: managed
// identity clear, the others open.
func seed(t testing.TB, store guard.Store, syn *synthetic) {
	for i := range syn.n {
		f := guard.Finding{Cluster: id(t, syn.clusterID(i)), Verdict: guard.VerdictServicePrincipal, State: guard.FindingOpen,
			FirstSeen: t0.Add(-2 * time.Hour), FlaggedAt: t0.Add(-time.Hour)}
		if i%3 == 0 {
			f.Verdict, f.State = guard.VerdictManagedIdentity, guard.FindingClear
		}
		if err := store.SaveFinding(t.Context(), &f); err != nil {
			t.Fatal(err)
		}
	}
}

// syntheticGraph is a Resource Graph client on syn through the SDK's fake
// transport, timed into busy.
func syntheticGraph(t testing.TB, syn *synthetic, busy *atomic.Int64) *resourcegraph.Client {
	c, err := resourcegraph.New(&azfake.TokenCredential{}, &arm.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: timedTransport{fake.NewServerTransport(&fake.Server{Resources: syn.resources}), busy}}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSweepSubscriptionsAcrossPages: 2,500 clusters in three
// subscriptions make pages that end inside a subscription; an unchanged
// fleet is still unchanged: nothing queued, no deletion check, every open
// finding counted once.
func TestSweepSubscriptionsAcrossPages(t *testing.T) {
	syn := &synthetic{n: 2500, subs: 3}
	store, queue := memory.NewStore(), memory.NewQueue()
	seed(t, store, syn)
	out, err := guard.Sweeper{Fleet: syntheticGraph(t, syn, new(atomic.Int64)).Fleet(resourcegraph.FleetScope{}, nil),
		Store: store, Queue: queue, Now: func() time.Time { return t0 }}.Sweep(t.Context())
	if err != nil || out.Clusters != 2500 || out.Evaluations != 0 || out.GoneChecks != 0 || out.KPIs.FlaggedTotal != 1666 || out.Queries != 1+3 {
		t.Errorf("Sweep() = %d clusters, %d queued, %d deletion checks, %d flagged, %d queries, %v; want 2500, 0, 0, 1666, 4",
			out.Clusters, out.Evaluations, out.GoneChecks, out.KPIs.FlaggedTotal, out.Queries, err)
	}
}

// BenchmarkSweep sweeps an unchanged fleet of 5,000 and 50,000 clusters
// over 2,000 subscriptions (every cluster already has its finding) through
// the real Resource Graph client on the SDK's fake transport, the
// in-memory store and queue. It reports the queries, the re-evaluations
// queued (each would cost one ARM read), the share of the time spent in
// the fake service making rows, and the peak heap above what the store
// holds.
func BenchmarkSweep(b *testing.B) {
	for _, n := range []int{5000, 50000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			syn := &synthetic{n: n, subs: 2000}
			var inService, inStore atomic.Int64
			c := syntheticGraph(b, syn, &inService)
			store, queue := memory.NewStore(), memory.NewQueue()
			sw := guard.Sweeper{Fleet: c.Fleet(resourcegraph.FleetScope{}, nil), Store: timedStore{store, &inStore}, Queue: queue, Now: func() time.Time { return t0 }}
			seed(b, store, syn)
			runtime.GC()
			base := heapInUse()
			peak := watchHeap()
			syn.queries.Store(0)
			inService.Store(0)
			inStore.Store(0)
			b.ResetTimer()
			var out guard.SweepOutcome
			var err error
			for b.Loop() {
				if out, err = sw.Sweep(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			top := peak()
			pages := 2 + (n+999)/1000 + 1 // subscription pages, cluster pages (one partial per batch)
			if out.Evaluations != 0 || out.GoneChecks != 0 || out.Clusters != n || out.Queries > pages || len(queue.Sent()) != 0 {
				b.Fatalf("sweep of the unchanged fleet = %+v; want %d clusters, nothing queued, at most %d queries", out, n, pages)
			}
			b.ReportMetric(float64(out.Queries), "queries/op")
			b.ReportMetric(float64(out.Evaluations), "ARM-reads/op")
			// Time in the (fake) Resource Graph service, and in the store
			// (Table Storage in Azure), the rest being the guard's code and
			// the SDK client's decoding of the answers. Store calls run
			// eight at a time: their share is of the time summed over them.
			elapsed := float64(b.Elapsed().Nanoseconds())
			b.ReportMetric(float64(inService.Load())/elapsed*100, "%-in-graph")
			b.ReportMetric(float64(inStore.Load())/elapsed*100, "%-in-store")
			b.ReportMetric(float64(top-base)/(1<<20), "peak-heap-MB")
		})
	}
}

// timedTransport adds the time each request takes to busy.
type timedTransport struct {
	next policy.Transporter
	busy *atomic.Int64
}

func (t timedTransport) Do(req *http.Request) (*http.Response, error) {
	start := time.Now()
	defer func() { t.busy.Add(int64(time.Since(start))) }()
	return t.next.Do(req)
}

// timedStore adds the time of the store calls a sweep makes to busy.
type timedStore struct {
	guard.Store
	busy *atomic.Int64
}

func (s timedStore) time(start time.Time) { s.busy.Add(int64(time.Since(start))) }

func (s timedStore) FindingsIn(ctx context.Context, sub string, states ...guard.FindingState) ([]guard.Finding, error) {
	defer s.time(time.Now())
	return s.Store.FindingsIn(ctx, sub, states...)
}

// BenchmarkReport builds and renders as HTML the page a 50,000-cluster
// fleet's Report function answers: 90 daily snapshots read, whatever the
// number of findings.
func BenchmarkReport(b *testing.B) {
	store := memory.NewStore()
	for d := range 90 {
		k := guard.KPIs{At: t0.AddDate(0, 0, d-89), Clusters: 50000, ManagedIdentity: 16667, ComplianceRate: 0.33334,
			Findings: map[guard.FindingState]int{guard.FindingOpen: 33333, guard.FindingClear: 16667}, FlaggedTotal: 33333}
		for i := range 100 {
			k.Flagged = append(k.Flagged, guard.FlaggedCluster{Cluster: fmt.Sprintf("/subscriptions/%08x-0000-4000-8000-000000000000/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks-%06d", i, i),
				State: guard.FindingOpen, FlaggedAt: t0.AddDate(0, 0, -30), Job: guard.JobAwaitingApproval, Next: "tag aksguard-remediation=approved"})
		}
		if err := store.SaveKPIs(b.Context(), k); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		rep, err := report.Build(b.Context(), store, t0)
		if err != nil || rep.Latest.Clusters != 50000 || len(rep.History) != 90 {
			b.Fatal(err)
		}
		if err := rep.HTML(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// heapInUse is the heap the last garbage collection found live: what the
// code holds, without the garbage the collector's pacing lets pile up,
// which grows with the store's live heap here (Table Storage's, in Azure).
func heapInUse() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// watchHeap samples heapInUse every millisecond until the returned
// function is called, which returns the peak seen.
func watchHeap() func() uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if h := heapInUse(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		return peak.Load()
	}
}
