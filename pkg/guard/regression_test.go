// Scenarios reviewers found that once went wrong, each named for the
// behaviour it now holds the remediation to.
package guard_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"

	"github.com/aksguard/aksguard/pkg/azurefake"
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
	mu     sync.Mutex
	starts int
}

func (c *countClusters) StartIdentityUpdate(ctx context.Context, id guard.ClusterID, u guard.IdentityUpdate, wait time.Duration) (guard.UpdateStatus, error) {
	c.mu.Lock()
	c.starts++
	c.mu.Unlock()
	return c.Clusters.StartIdentityUpdate(ctx, id, u, wait)
}

// TestLostClaimRaceSendsNoPUT: a worker whose claim save loses the ETag race
// to another worker's claim must not send the PUT.
func TestLostClaimRaceSendsNoPUT(t *testing.T) {
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

// TestOwnPUTAnswerLostSucceeds: the job's PUT is accepted but its answer is
// lost. The job must go forward (re-grant, verify) on what the cluster
// shows, not re-plan, cancel or send another PUT.
func TestOwnPUTAnswerLostSucceeds(t *testing.T) {
	cc := &countClusters{}
	w := remediationWorld(t, enforce, func(c *guard.Config) { cc.Clusters = c.Clusters; c.Clusters = cc })
	if err := w.az.Faults.Add(azurefake.ARMPut, azurefake.Fault{Kind: azurefake.LostAnswer, Count: 1}); err != nil {
		t.Fatal(err)
	}
	w.tag("approved", dana)
	w.pump(t0.Add(time.Hour))
	j := w.job()
	if j.State != guard.JobSucceeded {
		t.Errorf("job = %s %q, want succeeded (the cluster was migrated by the job's own PUT)", j.State, j.Outcome)
	}
	if n := w.rbac.Calls("Create"); n == 0 {
		t.Errorf("role assignments created = 0, want the control-plane roles re-granted to the cluster identity")
	}
	if n := cc.starts; n != 1 {
		t.Errorf("StartIdentityUpdate calls = %d, want 1 (a lost answer is no reason to send another)", n)
	}
}

// TestApprovalClearedWhenClusterDeleted: a cluster re-created under the same
// ID, tagged by someone not on the list, must not run on the approval given
// to the deleted one.
func TestApprovalClearedWhenClusterDeleted(t *testing.T) {
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
	if _, err := w.svc.HandleEvent(t.Context(), cr); err != nil {
		t.Fatal(err)
	}
	w.pump(t0.Add(4 * time.Hour))
	j := w.job()
	if j.State != guard.JobAwaitingApproval {
		t.Errorf("job for the re-created cluster = %s %q, want awaiting-approval", j.State, j.Outcome)
	}
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

// TestAlertOutageDoesNotStrandWake: while Event Grid is down the job's next
// wake-up must still be sent, not held in the outbox behind the alert.
func TestAlertOutageDoesNotStrandWake(t *testing.T) {
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
		if _, err := w.svc.HandleMessage(t.Context(), m); err != nil {
			t.Errorf("message %s: %v, want it handled although alerts fail", m.ID, err)
		}
	}
	j := w.job()
	pendingMsgs := 0
	for _, e := range j.Outbox {
		if e.Message != nil {
			pendingMsgs++
		}
	}
	if pendingMsgs > 0 {
		t.Errorf("the job's wake-up is stuck in the outbox behind an alert; nothing is scheduled for it")
	}
	sent := false
	for _, m := range w.queue.Sent() {
		sent = sent || m.Seq == j.WakeSeq
	}
	if !sent {
		t.Errorf("no message sent for the job's current wake-up (seq %d, state %s)", j.WakeSeq, j.State)
	}
}

// TestRegrantBlockedAfterPUTResumesOnReapproval: after the PUT, re-granting
// is forbidden (say an ABAC condition) and the job blocks; once the cause is
// fixed, approving again resumes it although the finding is resolved.
func TestRegrantBlockedAfterPUTResumesOnReapproval(t *testing.T) {
	w := remediationWorld(t, enforce)
	// One refusal more than the retries allowed for a role still
	// propagating; the next create after that is allowed.
	w.rbac.FailNext("Create", 4, 403, "AuthorizationFailed")
	w.tag("approved", dana)
	w.pump(t0.Add(time.Hour))
	if j := w.job(); j.State != guard.JobBlocked {
		t.Fatalf("job after a forbidden re-grant = %s %q, want blocked", j.State, j.Outcome)
	}
	w.tag("", dana)
	w.tag("approved", dana)
	w.pump(t0.Add(3 * time.Hour))
	if j := w.job(); j.State != guard.JobSucceeded {
		t.Errorf("after re-approval: job = %s %q, want succeeded (finding %s)", j.State, j.Outcome, w.finding().State)
	}
	if n := w.fleet.Calls("BeginCreateOrUpdate"); n != 1 {
		t.Errorf("PUTs = %d, want 1: resuming after the PUT must not send another", n)
	}
}

// TestScatteredTransientFailuresWhileParked: retries are counted per step,
// so transient failures each followed by a good read never fail a job that
// waits for approval.
func TestScatteredTransientFailuresWhileParked(t *testing.T) {
	w := remediationWorld(t, enforce)
	for i := 0; i < 9; i++ {
		w.fleet.FailNext("Get", 1, 503, "ServiceUnavailable", 0)
		w.pump(w.job().NextWake) // this wake fails: retry scheduled
		w.pump(w.job().NextWake) // the retry succeeds: parked again
		if j := w.job(); j.State != guard.JobAwaitingApproval {
			t.Fatalf("round %d: job = %s %q, want awaiting-approval", i, j.State, j.Outcome)
		}
	}
}

// TestAlertOutageAtWindowOpen: Event Grid is down when the window opens.
// The wake-up must still be handled without asking Service Bus for a
// redelivery (which would burn deliveries into the dead-letter queue), and
// once Event Grid is back the alerts go out and the job has run.
func TestAlertOutageAtWindowOpen(t *testing.T) {
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
	handled := 0
	for _, m := range w.queue.Due(w.clock()) {
		if _, err := w.svc.HandleMessage(t.Context(), m); err != nil {
			t.Errorf("message %s while Event Grid is down: %v, want it handled", m.ID, err)
		}
		handled++
	}
	if handled == 0 {
		t.Fatal("no wake-up was due when the window opened")
	}
	fa.mu.Lock()
	fa.down = false // Event Grid is back
	fa.mu.Unlock()
	w.pump(sunday.Add(48 * time.Hour))
	if j := w.job(); j.State != guard.JobSucceeded {
		t.Errorf("job stuck in %s %q with %d pending effects (PUTs %d)", j.State, j.Outcome, len(j.Outbox), w.fleet.Calls("BeginCreateOrUpdate"))
	}
}

// TestReadFailuresWhileUpdatingStillRegrant: failed reads while the update
// runs must never leave a migrated cluster without its roles re-granted.
func TestReadFailuresWhileUpdatingStillRegrant(t *testing.T) {
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
	w.pump(w.clock().Add(6 * time.Hour))
	if w.rbac.Calls("Create") == 0 {
		t.Errorf("the cluster was migrated by the job's PUT but no role was re-granted (job %s %q)", w.job().State, w.job().Outcome)
	}
	if j := w.job(); j.State != guard.JobSucceeded {
		t.Errorf("job = %s %q, want succeeded", j.State, j.Outcome)
	}
}

// TestDryRunStopsPlannedEnforceJob: switching AKSGUARD_MODE back to dry-run
// stops a job planned in enforce mode before its PUT.
func TestDryRunStopsPlannedEnforceJob(t *testing.T) {
	w := remediationWorld(t, enforce)
	closedWindow(w)
	w.tag("approved", dana)
	w.pump(t0.Add(time.Hour))                                      // planned in enforce, waiting for Sunday
	w.restart(func(c *guard.Config) { c.Mode = guard.ModeDryRun }) // AKSGUARD_MODE=dry-run
	w.pump(time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC))
	if n := w.fleet.Calls("BeginCreateOrUpdate"); n != 0 {
		t.Errorf("PUTs after switching to dry-run = %d (job %s)", n, w.job().State)
	}
}
