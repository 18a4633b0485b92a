package guard_test

import (
	"context"

	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"

	"github.com/aksguard/aksguard/pkg/guard"
)

// hookStore lets a test act right before a job save.
type hookStore struct {
	guard.Store
	mu     sync.Mutex
	before func(j *guard.Job)
}

func (s *hookStore) SaveJob(ctx context.Context, j *guard.Job) error {
	s.mu.Lock()
	h := s.before
	s.mu.Unlock()
	if h != nil {
		h(j)
	}
	return s.Store.SaveJob(ctx, j)
}

// countClusters counts StartIdentityUpdate calls and can lose the response.
type countClusters struct {
	guard.Clusters
	mu       sync.Mutex
	starts   int
	loseResp bool
}

func (c *countClusters) StartIdentityUpdate(ctx context.Context, id guard.ClusterID, etag string, target guard.IdentityTarget, wait time.Duration) (guard.UpdateStatus, error) {
	c.mu.Lock()
	c.starts++
	lose := c.loseResp
	c.loseResp = false
	c.mu.Unlock()
	st, err := c.Clusters.StartIdentityUpdate(ctx, id, etag, target, wait)
	if lose && err == nil {
		// ARM accepted the PUT; the response was lost and azcore's retry got 412.
		return guard.UpdateStatus{}, &guard.Error{Kind: guard.KindConflict, Code: "PreconditionFailed", Err: context.DeadlineExceeded}
	}
	return st, err
}

// Repro 1: a worker whose claim save lost the ETag race keeps r.claimed and
// sends the PUT although another worker holds a live claim.
func TestReproStickyClaim(t *testing.T) {
	hs := &hookStore{}
	cc := &countClusters{}
	w := remediationWorld(t, enforce, func(c *guard.Config) {
		hs.Store = c.Store
		c.Store = hs
		cc.Clusters = c.Clusters
		c.Clusters = cc
	})
	m := approvedJobMessage(t, w)
	once := true
	hs.mu.Lock()
	hs.before = func(j *guard.Job) {
		if once && j.State == guard.JobUpdating && j.ResumeToken == "" {
			once = false
			// Another worker claims first (exactly what ready() saves).
			other, err := w.store.Job(t.Context(), j.Cluster, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			other.State, other.UpdateStartedAt = guard.JobUpdating, w.clock()
			if err := w.store.SaveJob(t.Context(), &other); err != nil {
				t.Fatal(err)
			}
		}
	}
	hs.mu.Unlock()
	if _, err := w.svc.HandleMessage(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if cc.starts != 0 {
		t.Errorf("StartIdentityUpdate calls = %d while another worker held a fresh claim; want 0", cc.starts)
	}
}

// Repro 2: our own PUT is accepted but the response is lost; the retry's 412
// makes the job re-plan, and the re-planned job is cancelled because the
// cluster now uses a managed identity: no role is ever re-granted.
func TestReproOwnPUT412CancelsWithoutRegrant(t *testing.T) {
	cc := &countClusters{loseResp: true}
	w := remediationWorld(t, enforce, func(c *guard.Config) { cc.Clusters = c.Clusters; c.Clusters = cc })
	w.tag("approved", dana)
	w.pump(t0.Add(time.Hour))
	j := w.job()
	mc, _ := w.fleet.Cluster(spID)
	t.Logf("job %s %q; cluster identity %v clientId %s; role creates %d", j.State, j.Outcome, *mc.Identity.Type, *mc.Properties.ServicePrincipalProfile.ClientID, w.rbac.Calls("Create"))
	if j.State != guard.JobSucceeded {
		t.Errorf("job = %s, want succeeded (the cluster was migrated by the job's own PUT)", j.State)
	}
}

// Repro 3a: the job's timer reads the tag before the tag-write event is
// handled; the approval is attributed to nobody and, with an allow-list,
// rejected for good: Dana's own tag event then changes nothing.
func TestReproApprovalSeenByTimerFirst(t *testing.T) {
	w := remediationWorld(t, enforce, func(c *guard.Config) { c.Approvers = []string{dana.ObjectID} })
	mc, _ := w.fleet.Cluster(spID)
	mc.Tags = map[string]*string{guard.ApprovalTag: to.Ptr("approved")}
	w.fleet.Put(mc)
	w.pump(t0.Add(2 * time.Minute)) // the first job timer (debounce) fires before the event arrives
	w.tag("approved", dana)         // Dana's tags/write event arrives
	w.pump(t0.Add(3 * time.Hour))
	f := w.finding()
	t.Logf("finding approval %+v; job %s %q", f.Approval, w.job().State, w.job().Outcome)
	if w.job().State != guard.JobSucceeded {
		t.Errorf("Dana's approval did not count: job %s", w.job().State)
	}
}

// Repro 3b: Mallory (not allowed) sets the tag; an unrelated cluster write
// by Dana (allowed) is handled first and the approval is credited to Dana.
func TestReproAllowListBypass(t *testing.T) {
	w := remediationWorld(t, enforce, func(c *guard.Config) { c.Approvers = []string{dana.ObjectID} })
	w.set(t0.Add(5 * time.Minute))
	mc, _ := w.fleet.Cluster(spID)
	mc.Tags = map[string]*string{guard.ApprovalTag: to.Ptr("approved")} // set by eve
	w.fleet.Put(mc)
	ev := write(t, spID, "dana-scales", w.clock())
	ev.Actor = dana
	if _, err := w.svc.HandleEvent(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	// Eve's own tags/write event comes later.
	evTag := guard.Event{ID: "eve-tag", Type: "Microsoft.Resources.ResourceWriteSuccess", Time: w.clock(),
		Operation: "Microsoft.Resources/tags/write", Cluster: id(t, spID), Action: guard.ActionApprovalCheck, Actor: eve}
	out, _ := w.svc.HandleEvent(t.Context(), evTag)
	w.pump(t0.Add(3 * time.Hour))
	t.Logf("eve's event: %+v; approval %+v", out, w.finding().Approval)
	if w.fleet.Calls("BeginCreateOrUpdate") != 0 {
		t.Errorf("eve's approval migrated the cluster (job %s, approval by %s)", w.job().State, w.job().Approval.By)
	}
}

// Repro 4: the approval survives the cluster's deletion; a new cluster with
// the same ID, tagged by someone not on the list, runs on the old approval.
func TestReproApprovalSurvivesDeletion(t *testing.T) {
	w := remediationWorld(t, enforce, func(c *guard.Config) { c.Approvers = []string{dana.ObjectID} })
	closedWindow(w)
	w.tag("approved", dana)
	w.pump(t0.Add(time.Hour))
	old, _ := w.fleet.Cluster(spID)
	w.fleet.Delete(spID)
	del := guard.Event{ID: "delete", Type: "Microsoft.Resources.ResourceDeleteSuccess", Time: w.clock(), Cluster: id(t, spID), Action: guard.ActionClose, Actor: dana}
	if _, err := w.svc.HandleEvent(t.Context(), del); err != nil {
		t.Fatal(err)
	}
	w.pump(t0.Add(2 * time.Hour))
	// Eve re-creates it, with the tag.
	old.Tags = map[string]*string{guard.ApprovalTag: to.Ptr("approved")}
	w.fleet.Put(old)
	w.fleet.SetMaintenanceConfigs(spID, nil)
	cr := write(t, spID, "eve-create", w.clock())
	cr.Actor = eve
	out, err := w.svc.HandleEvent(t.Context(), cr)
	if err != nil {
		t.Fatal(err)
	}
	w.pump(t0.Add(4 * time.Hour))
	j := w.job()
	t.Logf("create: %+v; job %s approval %+v", out, j.State, j.Approval)
	if w.fleet.Calls("BeginCreateOrUpdate") != 0 {
		t.Errorf("the re-created cluster was migrated on the old approval (by %s at %v)", j.Approval.By, j.Approval.At)
	}
}

// failingAlerts fails publishing while down.
type failingAlerts struct {
	guard.Alerts
	mu   sync.Mutex
	down bool
}

func (a *failingAlerts) Publish(ctx context.Context, al guard.Alert) error {
	a.mu.Lock()
	down := a.down
	a.mu.Unlock()
	if down {
		return guard.Errorf(guard.KindTransient, "event grid unavailable")
	}
	return a.Alerts.Publish(ctx, al)
}

// Repro 5: an Event Grid outage keeps the job's next wake-up in the outbox
// behind the alert; only Service Bus redelivery (10 at once, then DLQ) can
// carry it out.
func TestReproAlertOutageStrandsWake(t *testing.T) {
	fa := &failingAlerts{}
	w := remediationWorld(t, enforce, func(c *guard.Config) { fa.Alerts = c.Alerts; c.Alerts = fa })
	closedWindow(w)
	w.set(t0.Add(2 * time.Minute))
	w.pump(w.clock())
	w.tag("approved", dana)
	fa.mu.Lock()
	fa.down = true
	fa.mu.Unlock()
	for _, m := range w.queue.Due(w.clock()) {
		_, err := w.svc.HandleMessage(t.Context(), m)
		t.Logf("message %s: err=%v", m.ID, err)
	}
	j := w.job()
	pendingMsgs := 0
	for _, e := range j.Outbox {
		if e.Message != nil {
			pendingMsgs++
		}
	}
	next, ok := w.queue.Next()
	t.Logf("job %s seq %d nextwake %v, outbox %d effects (%d messages), queue next %v %v", j.State, j.WakeSeq, j.NextWake, len(j.Outbox), pendingMsgs, next, ok)
	for _, m := range w.queue.Sent() {
		if m.Seq == j.WakeSeq {
			t.Logf("timer for current seq was sent: %s at %v", m.ID, m.NotBefore)
		}
	}
	if pendingMsgs > 0 {
		t.Errorf("the job's wake-up is stuck in the outbox behind an alert; nothing is scheduled for it")
	}
}

// Repro 6: after the PUT, re-granting is forbidden (ABAC condition) → blocked;
// re-approving cannot restart it because the finding is resolved.
func TestReproRegrantBlockedAfterPUTIsUnrecoverable(t *testing.T) {
	w := remediationWorld(t, enforce)
	w.rbac.FailNext("Create", 1, 403, "AuthorizationFailed")
	w.tag("approved", dana)
	w.pump(t0.Add(time.Hour))
	j := w.job()
	t.Logf("job %s %q; finding %s; PUTs %d", j.State, j.Outcome, w.finding().State, w.fleet.Calls("BeginCreateOrUpdate"))
	w.tag("", dana)
	w.tag("approved", dana)
	w.pump(t0.Add(3 * time.Hour))
	j2 := w.job()
	t.Logf("after re-approval: job %s %s %q", j2.ID, j2.State, j2.Outcome)
	if j2.State != guard.JobSucceeded {
		t.Errorf("no way to finish the re-grant: job %s, finding %s", j2.State, w.finding().State)
	}
}

// Repro 7: transient failures while parked add up over the job's life.
func TestReproParkedAttemptsAccumulate(t *testing.T) {
	w := remediationWorld(t, enforce)
	for i := 0; i < 9; i++ {
		w.fleet.FailNext("Get", 1, 503, "ServiceUnavailable", 0)
		w.pump(w.job().NextWake) // this wake fails: retry scheduled
		w.pump(w.job().NextWake) // the retry succeeds: parked again
		j := w.job()
		t.Logf("round %d: job %s attempts %d next %v", i, j.State, j.Attempts, j.NextWake)
	}
	j := w.job()
	if j.State == guard.JobFailed {
		t.Errorf("a job waiting for approval failed after scattered transient reads, each followed by a good one: %q", j.Outcome)
	}
}

func TestReproAlertOutageAtWindowOpen(t *testing.T) {
	fa := &failingAlerts{}
	w := remediationWorld(t, enforce, func(c *guard.Config) { fa.Alerts = c.Alerts; c.Alerts = fa })
	closedWindow(w)
	w.tag("approved", dana)
	w.pump(t0.Add(time.Hour))
	sunday := time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC)
	w.set(sunday)
	fa.mu.Lock()
	fa.down = true
	fa.mu.Unlock()
	for delivery := 1; delivery <= 10; delivery++ { // Service Bus: redelivered at once, 10 deliveries, then DLQ
		for _, m := range w.queue.Due(w.clock()) {
			_, err := w.svc.HandleMessage(t.Context(), m)
			t.Logf("delivery %d of %s: err=%v", delivery, m.ID, err)
			if err != nil && delivery < 10 {
				w.queue.Requeue(m)
			}
		}
	}
	fa.mu.Lock()
	fa.down = false // Event Grid is back
	fa.mu.Unlock()
	w.pump(sunday.Add(48 * time.Hour))
	j := w.job()
	t.Logf("job %s seq %d next wake %v outbox %d; PUTs %d", j.State, j.WakeSeq, j.NextWake, len(j.Outbox), w.fleet.Calls("BeginCreateOrUpdate"))
	if j.State != guard.JobSucceeded {
		t.Errorf("job stuck in %s with %d pending effects and no timer", j.State, len(j.Outbox))
	}
}

func TestReproUpdatingFailsAfterPUTNoRegrant(t *testing.T) {
	w := remediationWorld(t, enforce)
	w.fleet.SetUpdatePolls(40)
	w.set(t0.Add(2 * time.Minute))
	w.tag("approved", dana)
	w.pump(w.clock())
	for i := 0; i < 12 && w.job().State == guard.JobUpdating; i++ {
		w.fleet.FailNext("Get", 1, 503, "ServiceUnavailable", 0)
		w.pump(w.job().NextWake)
		w.pump(w.job().NextWake)
	}
	j := w.job()
	t.Logf("job %s %q attempts %d", j.State, j.Outcome, j.Attempts)
	w.pump(w.clock().Add(6 * time.Hour))
	mc, _ := w.fleet.Cluster(spID)
	t.Logf("later: job %s; cluster clientId %s; finding %s; role creates %d", w.job().State, *mc.Properties.ServicePrincipalProfile.ClientID, w.finding().State, w.rbac.Calls("Create"))
	if w.rbac.Calls("Create") == 0 {
		t.Errorf("the cluster was migrated by the job's PUT but no role was re-granted")
	}
}

// Repro: switching AKSGUARD_MODE back to dry-run does not stop a job
// planned in enforce mode from sending its PUT when its window opens.
func TestReproModeKillSwitch(t *testing.T) {
	w := remediationWorld(t, enforce)
	closedWindow(w)
	w.tag("approved", dana)
	w.pump(t0.Add(time.Hour)) // planned in enforce, waiting for Sunday
	svc, err := guard.New(guard.Config{Clusters: w.fleet.Client(), Store: w.store, Queue: w.queue, Alerts: w.alerts, Now: w.clock,
		Directory: w.graph.Client(), Roles: w.rbac.Client(), Mode: guard.ModeDryRun, PollWait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w.svc = svc // the app restarted with AKSGUARD_MODE=dry-run
	w.pump(time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC))
	if n := w.fleet.Calls("BeginCreateOrUpdate"); n != 0 {
		t.Errorf("PUTs after switching to dry-run = %d (job %s)", n, w.job().State)
	}
}

// TestApprovalByClusterWrite: `az aks update --tags` reports a cluster
// write, read at once (not folded into a later read) and credited to its
// caller — unless an approver list is set: then only the caller of a tags
// write is surely the one who set the tag, and the approval waits for one.
func TestApprovalByClusterWrite(t *testing.T) {
	for _, tt := range []struct {
		name      string
		approvers []string
		want      guard.JobState
	}{
		{"no approver list: credited to the caller", nil, guard.JobSucceeded},
		{"approver list: waits for a tags write", []string{dana.ObjectID}, guard.JobAwaitingApproval},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := remediationWorld(t, enforce, func(c *guard.Config) { c.Approvers = tt.approvers })
			w.set(t0.Add(30 * time.Second)) // within the debounce of the first read
			mc, _ := w.fleet.Cluster(spID)
			mc.Tags = map[string]*string{guard.ApprovalTag: to.Ptr("approved")}
			w.fleet.Put(mc)
			ev := write(t, spID, "dana-az-aks-update-tags", w.clock())
			ev.Actor = dana
			if _, err := w.svc.HandleEvent(t.Context(), ev); err != nil {
				t.Fatal(err)
			}
			w.pump(t0.Add(3 * time.Hour))
			if j := w.job(); j.State != tt.want {
				t.Errorf("job = %s %q, want %s", j.State, j.Outcome, tt.want)
			}
			if tt.approvers != nil {
				w.tag("approved", dana) // the tags write credits Dana
				w.pump(t0.Add(6 * time.Hour))
				if j := w.job(); j.State != guard.JobSucceeded {
					t.Errorf("after Dana's tags write: job = %s %q, want succeeded", j.State, j.Outcome)
				}
			}
		})
	}
}
