package guard_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/azurefake"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/memory"
	"github.com/aksguard/aksguard/pkg/sampletest"
	"github.com/aksguard/aksguard/pkg/storetest"
)

const (
	spID  = "/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourcegroups/rg-4149/providers/Microsoft.ContainerService/managedClusters/manCluster-5614"
	msiID = "/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourcegroups/testaksrg2107/providers/Microsoft.ContainerService/managedClusters/akscluster4379"
)

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// world is the Service over the simulated fleet, the in-memory queue and
// alert sink, and a store: Table Storage on Azurite when scripts/test.sh
// runs one, else the in-memory store (which passes the same contract).
type world struct {
	t      *testing.T
	az     *azurefake.Azure
	fleet  *azurefake.Fleet
	graph  *azurefake.Graph
	rbac   *azurefake.RBAC
	store  guard.Store
	queue  *flakyQueue
	alerts *memory.Alerts
	svc    *guard.Service
	// cfg is what svc was built with.
	cfg guard.Config
}

func newWorld(t *testing.T, opts ...func(*guard.Config)) *world {
	t.Helper()
	az := azurefake.New(azurefake.NewClock(t0))
	t.Cleanup(az.Close)
	if err := az.Fleet.Load(bytes.NewReader(sampletest.Array(t,
		"aks_get_sp_realguid_sdknet_recording.json", "aks_get_systemassigned_msi_kubeletidentity_sdknet_recording.json"))); err != nil {
		t.Fatal(err)
	}
	for _, p := range []guard.Actor{dana, eve} {
		az.Graph.AddUser(guard.Principal{ObjectID: p.ObjectID, UPN: p.UPN, DisplayName: p.Name}, "")
	}
	w := &world{t: t, az: az, fleet: az.Fleet, graph: az.Graph, rbac: az.RBAC, store: storetest.Store(t),
		queue: &flakyQueue{Queue: memory.NewQueue()}, alerts: &memory.Alerts{}}
	roles, graph := w.rbac.Client(), w.fleet.ResourceGraph()
	cfg := guard.Config{Clusters: w.fleet.Client(), Store: w.store, Queue: w.queue, Alerts: w.alerts, Now: w.clock,
		Directory: w.graph.Client(), Roles: roles, Permissions: roles, History: graph, Inventory: graph}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := guard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.svc, w.cfg = svc, cfg
	return w
}

// restart builds the service again with change made to its configuration,
// as the function app restarting with other settings does.
func (w *world) restart(change func(*guard.Config)) {
	w.t.Helper()
	cfg := w.cfg
	change(&cfg)
	svc, err := guard.New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	w.svc, w.cfg = svc, cfg
}

// findings, jobs and audit read the store, failing the test when it fails:
// an error must never pass for "nothing there".
func (w *world) findings() []guard.Finding {
	w.t.Helper()
	fs, err := w.store.Findings(w.t.Context())
	if err != nil {
		w.t.Fatalf("Findings(): %v", err)
	}
	return fs
}

func (w *world) jobs() []guard.Job {
	w.t.Helper()
	js, err := w.store.Jobs(w.t.Context())
	if err != nil {
		w.t.Fatalf("Jobs(): %v", err)
	}
	return js
}

func (w *world) audit(cluster string) []guard.AuditEntry {
	w.t.Helper()
	entries, err := w.store.Audit(w.t.Context(), id(w.t, cluster))
	if err != nil {
		w.t.Fatalf("Audit(%s): %v", cluster, err)
	}
	return entries
}

func (w *world) clock() time.Time { return w.az.Clock.Now() }
func (w *world) set(t time.Time)  { w.az.Clock.Set(t) }

func id(t testing.TB, s string) guard.ClusterID {
	t.Helper()
	c, err := armid.ParseCluster(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func write(t *testing.T, cluster, eventID string, at time.Time) guard.Event {
	return guard.Event{ID: eventID, Type: "Microsoft.Resources.ResourceWriteSuccess", Time: at,
		Operation: "Microsoft.ContainerService/managedClusters/write", Cluster: id(t, cluster), Action: guard.ActionEvaluate}
}

// flakyQueue fails the next sends when told to, as Service Bus does when
// unreachable.
type flakyQueue struct {
	*memory.Queue
	mu    sync.Mutex
	fails int
}

func (q *flakyQueue) Send(ctx context.Context, m guard.Message) error {
	q.mu.Lock()
	if q.fails > 0 {
		q.fails--
		q.mu.Unlock()
		return guard.Errorf(guard.KindTransient, "service bus unavailable")
	}
	q.mu.Unlock()
	return q.Queue.Send(ctx, m)
}

// TestNothingLostWhenTheQueueIsDown: the finding and its effects are
// written together; an effect not carried out stays in the outbox, the
// event is delivered again, and the retry finishes it, each effect exactly
// once.
func TestNothingLostWhenTheQueueIsDown(t *testing.T) {
	w := newWorld(t)
	w.queue.fails = 1
	ev := write(t, spID, "e1", t0.Add(-10*time.Second)) // delivered ten seconds after the change
	if _, err := w.svc.HandleEvent(t.Context(), ev); guard.KindOf(err) != guard.KindTransient {
		t.Fatalf("HandleEvent() error = %v, want a transient error so the event is delivered again", err)
	}
	f, err := w.store.Finding(t.Context(), id(t, spID))
	if err != nil || f.State != guard.FindingOpen || len(f.Outbox) != 1 || f.Outbox[0].Message == nil {
		t.Fatalf("after the outage: finding %s with %d effects pending (%v); want open with the wake-up message pending", f.State, len(f.Outbox), err)
	}
	if n := len(w.alerts.Published()); n != 1 {
		t.Errorf("alerts during the queue outage = %d, want 1: an alert does not wait for the queue", n)
	}
	if js := w.jobs(); len(js) != 1 {
		t.Errorf("jobs = %d, want the job created before the outage", len(js))
	}
	w.set(t0.Add(10 * time.Second))
	out, err := w.svc.HandleEvent(t.Context(), ev)
	if err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if out.Result != guard.ResultDuplicate {
		t.Errorf("redelivery result = %s, want duplicate (the cluster was read after the change)", out.Result)
	}
	f = w.findingOf(spID)
	if len(f.Outbox) != 0 || len(w.queue.Sent()) != 1 || len(w.alerts.Published()) != 1 {
		t.Errorf("after redelivery: %d pending, %d sent, %d alerts; want 0, 1, 1", len(f.Outbox), len(w.queue.Sent()), len(w.alerts.Published()))
	}
	audit := w.audit(spID)
	if len(audit) != 1 || audit[0].Action != "flagged" {
		t.Errorf("audit = %+v, want one flagged entry", audit)
	}
	if n := w.fleet.Calls("Get"); n != 1 {
		t.Errorf("ARM reads = %d, want 1", n)
	}
}

// TestConcurrentFirstEvents: the same event handled by eight instances at
// once gives one finding and one job; every alert published carries the
// same id, so a subscriber can drop repeats.
func TestConcurrentFirstEvents(t *testing.T) {
	w := newWorld(t)
	ev := write(t, spID, "e1", t0)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := w.svc.HandleEvent(t.Context(), ev); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("HandleEvent() error %v", err)
	}
	fs, js := w.findings(), w.jobs()
	if len(fs) != 1 || len(js) != 1 || fs[0].JobID != js[0].ID || len(fs[0].Outbox) != 0 {
		t.Fatalf("findings %+v, jobs %+v: want one open finding naming one job, nothing pending", fs, js)
	}
	ids := map[string]bool{}
	for _, a := range w.alerts.Published() {
		ids[a.ID] = true
	}
	if len(ids) != 1 || len(w.queue.Sent()) != 1 {
		t.Errorf("alert ids %v, messages %d; want one alert id and one message", ids, len(w.queue.Sent()))
	}
}

// TestCoalescedReevaluation: agent-pool writes shortly after a read are
// folded into one scheduled re-evaluation.
func TestCoalescedReevaluation(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	if out, err := w.svc.HandleEvent(ctx, write(t, msiID, "e1", t0)); err != nil || out.Result != guard.ResultEvaluated {
		t.Fatalf("first event = %v, %v", out, err)
	}
	for i := range 5 {
		w.set(t0.Add(time.Duration(10+i) * time.Second))
		ev := write(t, msiID, "e"+string(rune('2'+i)), t0.Add(time.Duration(9+i)*time.Second))
		ev.Operation = "Microsoft.ContainerService/managedClusters/agentPools/write"
		out, err := w.svc.HandleEvent(ctx, ev)
		if err != nil || out.Result != guard.ResultCoalesced {
			t.Fatalf("event %d = %v, %v; want coalesced", i, out, err)
		}
	}
	sent := w.queue.Sent()
	if len(sent) != 1 || sent[0].Kind != guard.MessageEvaluate || !sent[0].NotBefore.Equal(t0.Add(time.Minute)) {
		t.Fatalf("queued = %+v, want one re-evaluation a minute after the read", sent)
	}
	w.set(t0.Add(time.Minute))
	out, err := w.svc.HandleMessage(ctx, sent[0])
	if err != nil || out.Result != guard.ResultEvaluated {
		t.Errorf("re-evaluation = %v, %v", out, err)
	}
	if n := w.fleet.Calls("Get"); n != 2 {
		t.Errorf("ARM reads = %d, want 2", n)
	}
	f := w.findingOf(msiID)
	if !f.RecheckAt.IsZero() {
		t.Errorf("RecheckAt = %v after the re-evaluation, want cleared", f.RecheckAt)
	}
}

// TestRepeatsAndDebounce: what the intake does with an event that follows
// a read of the cluster. Only a repeat of an event already handled and an
// agent-pool write within the debounce are answered without reading ARM; a
// cluster write is read at once even within the debounce (it may carry the
// approval tag, or be the change that fixed the cluster).
func TestRepeatsAndDebounce(t *testing.T) {
	agentPool := "Microsoft.ContainerService/managedClusters/agentPools/write"
	tests := []struct {
		name      string
		id, op    string
		after     time.Duration // since the first event, which was read at t0
		want      guard.Result
		wantReads int
	}{
		{"same event id within the debounce", "e1", "", 10 * time.Second, guard.ResultDuplicate, 1},
		{"same event id long after", "e1", "", 3 * time.Hour, guard.ResultDuplicate, 1},
		{"cluster write within the debounce", "e2", "", 10 * time.Second, guard.ResultEvaluated, 2},
		{"agent-pool write within the debounce", "e2", agentPool, 10 * time.Second, guard.ResultCoalesced, 1},
		{"agent-pool write after the debounce", "e2", agentPool, 2 * time.Minute, guard.ResultEvaluated, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			if out, err := w.svc.HandleEvent(t.Context(), write(t, msiID, "e1", t0)); err != nil || out.Result != guard.ResultEvaluated {
				t.Fatalf("first event = %+v, %v", out, err)
			}
			w.set(t0.Add(tt.after))
			ev := write(t, msiID, tt.id, t0.Add(tt.after-time.Second))
			if tt.op != "" {
				ev.Operation = tt.op
			}
			out, err := w.svc.HandleEvent(t.Context(), ev)
			if err != nil || out.Result != tt.want {
				t.Errorf("second event = %+v, %v; want %s", out, err, tt.want)
			}
			if n := w.fleet.Calls("Get"); n != tt.wantReads {
				t.Errorf("ARM reads = %d, want %d", n, tt.wantReads)
			}
		})
	}
}

// TestDeleteAndRecreate: deletion closes the finding and cancels the job;
// the same name created again with a service principal opens a new one.
func TestDeleteAndRecreate(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	if _, err := w.svc.HandleEvent(ctx, write(t, spID, "create", t0)); err != nil {
		t.Fatal(err)
	}
	mc, _ := w.fleet.Cluster(spID)
	w.fleet.Delete(spID)
	w.set(t0.Add(5 * time.Minute))
	del := guard.Event{ID: "delete", Type: "Microsoft.Resources.ResourceDeleteSuccess", Time: t0.Add(5 * time.Minute), Cluster: id(t, spID), Action: guard.ActionClose}
	if out, err := w.svc.HandleEvent(ctx, del); err != nil || out.Result != guard.ResultResolved {
		t.Fatalf("delete = %v, %v", out, err)
	}
	// The job wakes on the "cluster deleted" message and cancels.
	for _, m := range w.queue.Due(w.clock()) {
		if _, err := w.svc.HandleMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	js := w.jobs()
	if len(js) != 1 || js[0].State != guard.JobCancelled {
		t.Fatalf("jobs = %+v, want the first job cancelled", js)
	}
	w.fleet.Put(mc)
	w.set(t0.Add(10 * time.Minute))
	out, err := w.svc.HandleEvent(ctx, write(t, spID, "recreate", t0.Add(10*time.Minute)))
	if err != nil || out.Result != guard.ResultFlagged || out.JobID == js[0].ID {
		t.Errorf("recreate = %+v, %v; want flagged with a new job", out, err)
	}
}

// TestStaleTimersAreDropped: ten copies of a job's timer message cause one
// park and one new timer.
func TestStaleTimersAreDropped(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	if _, err := w.svc.HandleEvent(ctx, write(t, spID, "e1", t0)); err != nil {
		t.Fatal(err)
	}
	timer := w.queue.Sent()[0]
	w.set(t0.Add(2 * time.Minute))
	results := map[guard.Result]int{}
	for range 10 {
		out, err := w.svc.HandleMessage(ctx, timer)
		if err != nil {
			t.Fatal(err)
		}
		results[out.Result]++
	}
	if results[guard.ResultParked] != 1 || results[guard.ResultDuplicate] != 9 || len(w.queue.Sent()) != 2 {
		t.Errorf("results %v, %d messages sent; want 1 parked, 9 duplicates, 2 messages", results, len(w.queue.Sent()))
	}
}

func TestRejectsMessagesItCannotUse(t *testing.T) {
	w := newWorld(t)
	tests := []guard.Message{
		{ID: "m1", Kind: guard.MessageJob},
		{ID: "m2", Kind: guard.MessageJob, Cluster: id(t, spID)},
		{ID: "m3", Kind: "reboot", Cluster: id(t, spID)},
	}
	for _, m := range tests {
		if out, err := w.svc.HandleMessage(t.Context(), m); err != nil || out.Result != guard.ResultRejected {
			t.Errorf("HandleMessage(%+v) = %v, %v; want rejected", m, out, err)
		}
	}
}
