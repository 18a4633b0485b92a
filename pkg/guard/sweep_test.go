package guard_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aksguard/aksguard/pkg/azurefake"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/resourcegraph"
)

// sweeping gives the service the simulated fleet's Resource Graph listing.
func sweeping(w *world) func(*guard.Config) {
	return func(c *guard.Config) {
		c.Fleet = w.fleet.ResourceGraph().Fleet(resourcegraph.FleetScope{}, nil)
	}
}

func (w *world) sweep() guard.SweepOutcome {
	w.t.Helper()
	if w.cfg.Fleet == nil {
		w.restart(sweeping(w))
	}
	out, err := w.svc.Sweep(w.t.Context())
	if err != nil {
		w.t.Fatalf("Sweep(): %v", err)
	}
	return out
}

// TestSweepFindsClustersNoEventShowed: clusters that never sent an event
// are found by the sweep, confirmed with a read of each through the
// queue, and recorded; a second sweep of the unchanged fleet costs two
// Resource Graph queries, no ARM read and no message.
func TestSweepFindsClustersNoEventShowed(t *testing.T) {
	w := newWorld(t)
	out := w.sweep()
	if out.Clusters != 2 || out.Evaluations != 2 || out.Queries != 2 || w.fleet.Calls("Get") != 0 {
		t.Fatalf("first sweep = %+v after %d ARM reads; want 2 clusters, 2 re-evaluations queued, 2 queries, no read", out, w.fleet.Calls("Get"))
	}
	w.pump(t0.Add(time.Minute))
	if f := w.findingOf(spID); f.State != guard.FindingOpen || f.JobID == "" || !f.FlaggedWriteAt.IsZero() {
		t.Errorf("SP cluster finding = %s (job %q, write at %v); want open with a job, not counted as caught at creation", f.State, f.JobID, f.FlaggedWriteAt)
	}
	if f := w.findingOf(msiID); f.State != guard.FindingClear {
		t.Errorf("MSI cluster finding = %s, want clear", f.State)
	}
	reads, sent := w.fleet.Calls("Get"), len(w.queue.Sent())
	again := w.sweep()
	if again.Evaluations != 0 || again.Queries != 2 || w.fleet.Calls("Get") != reads || len(w.queue.Sent()) != sent {
		t.Errorf("second sweep = %+v, %d more ARM reads, %d more messages; want nothing queued, 2 queries, no read, no message",
			again, w.fleet.Calls("Get")-reads, len(w.queue.Sent())-sent)
	}
	k := again.KPIs
	if k.Clusters != 2 || k.ManagedIdentity != 1 || k.ServicePrincipal != 1 || k.ComplianceRate != 0.5 ||
		k.Findings[guard.FindingOpen] != 1 || k.OpenByAge["<1d"] != 1 || k.ApprovalsPending != 1 || k.Jobs[guard.JobAwaitingApproval] != 1 {
		t.Errorf("KPIs = %+v; want 2 clusters, half compliant, one open finding under a day old awaiting approval", k)
	}
	if len(k.Flagged) != 1 || k.FlaggedTotal != 1 || !strings.EqualFold(k.Flagged[0].Cluster, spID) ||
		k.Flagged[0].Job != guard.JobAwaitingApproval || !strings.Contains(k.Flagged[0].Next, "=approved") {
		t.Errorf("flagged = %+v (total %d); want the SP cluster awaiting its approval tag", k.Flagged, k.FlaggedTotal)
	}
	hist, err := w.store.KPIHistory(t.Context(), t0)
	if err != nil || len(hist) != 1 || hist[0].Clusters != 2 {
		t.Errorf("KPIHistory() = %+v, %v; want the day's one snapshot", hist, err)
	}
}

// TestSweepWakesAJobWhoseApprovalEventWasLost: an approval set while its
// event was lost is found by the sweep and credited, as a tags event's
// would be, to whom Azure's change history names: the approver's starts
// the job; an outsider's is rejected and the job stays parked.
func TestSweepWakesAJobWhoseApprovalEventWasLost(t *testing.T) {
	for _, tt := range []struct {
		name string
		by   guard.Actor
		want guard.ApprovalStatus
	}{{"approver", dana, guard.ApprovalApproved}, {"not an approver", eve, guard.ApprovalRejected}} {
		t.Run(tt.name, func(t *testing.T) {
			w := remediationWorld(t, approvers(dana.UPN))
			w.sweep() // the MSI cluster, never seen before
			w.pump(t0.Add(2 * time.Minute))
			w.setTag(guard.ApprovalTag, "approved", tt.by, opTags) // its event is lost
			if out := w.sweep(); out.Evaluations != 1 {
				t.Fatalf("sweep = %+v, want one re-evaluation (the approval tag changed)", out)
			}
			w.pump(t0.Add(10 * time.Minute))
			f := w.finding()
			if f.Approval == nil || f.Approval.Status != tt.want || f.Approval.By.UPN != tt.by.UPN {
				t.Fatalf("approval = %+v, want %s credited to %s", f.Approval, tt.want, tt.by.UPN)
			}
			parked := w.job().State == guard.JobAwaitingApproval
			if parked != (tt.want != guard.ApprovalApproved) {
				t.Errorf("job = %s; want it moving only for an approver's approval", w.job().State)
			}
		})
	}
}

// TestSweepClosesFindingsOfDeletedClusters: a cluster deleted while its
// event was lost is checked with a read, through the queue, once
// Resource Graph no longer lists it; a finding younger than Resource
// Graph's lag is left alone.
func TestSweepClosesFindingsOfDeletedClusters(t *testing.T) {
	w := remediationWorld(t)
	w.sweep() // the MSI cluster, never seen before
	w.pump(t0.Add(time.Minute))
	w.fleet.Delete(spID)
	if out := w.sweep(); out.GoneChecks != 0 {
		t.Errorf("sweep right after the flag = %+v; want no deletion check for a finding younger than the listing's lag", out)
	}
	w.set(t0.Add(time.Hour))
	if out := w.sweep(); out.GoneChecks != 1 {
		t.Fatalf("sweep an hour later = %+v; want one deletion check", out)
	}
	w.pump(t0.Add(2 * time.Hour))
	if f := w.finding(); f.State != guard.FindingResolved || f.Resolution != "cluster deleted" {
		t.Errorf("finding = %s (%s), want resolved: cluster deleted", f.State, f.Resolution)
	}
	if out := w.sweep(); out.GoneChecks != 0 {
		t.Errorf("sweep after the close = %+v, want nothing more to check", out)
	}
}

// TestSweepFollowsAMigrationByHand: a control plane migrated by hand and
// node images upgraded by hand, with every event lost, are found by
// sweeps: the finding goes kubelet-pending, then resolved.
func TestSweepFollowsAMigrationByHand(t *testing.T) {
	w := kubeletWorld(t, false)
	w.sweep() // the MSI cluster, never seen before
	w.pump(t0.Add(time.Minute))
	w.fleet.MigrateAs(id(t, spID), caller(dana))
	if out := w.sweep(); out.Evaluations != 1 {
		t.Fatalf("sweep after the migration = %+v, want one re-evaluation", out)
	}
	w.pump(t0.Add(5 * time.Minute))
	if f := w.finding(); f.State != guard.FindingKubeletPending {
		t.Fatalf("finding = %s, want kubelet-pending", f.State)
	}
	if k := w.sweep().KPIs; k.KubeletPending != 1 {
		t.Errorf("KPIs.KubeletPending = %d, want 1", k.KubeletPending)
	}
	for _, pool := range []string{"system", "user"} {
		w.fleet.UpgradeNodeImageAs(id(t, spID), pool, caller(dana))
	}
	if out := w.sweep(); out.Evaluations != 1 {
		t.Fatalf("sweep after the node image upgrades = %+v, want one re-evaluation", out)
	}
	w.pump(t0.Add(10 * time.Minute))
	if f := w.finding(); f.State != guard.FindingResolved {
		t.Errorf("finding = %s, want resolved", f.State)
	}
}

// TestSweepComparesWithAzurePolicy names each cluster where Azure Policy's
// state of the built-in definition disagrees with the guard's verdict,
// and why where it can tell.
func TestSweepComparesWithAzurePolicy(t *testing.T) {
	w := newWorld(t)
	w.sweep()
	w.pump(t0.Add(time.Minute))
	w.fleet.SetPolicyState(id(t, spID), azurefake.PolicyState{State: "Compliant", At: t0.Add(-24 * time.Hour)})
	w.fleet.SetPolicyState(id(t, msiID), azurefake.PolicyState{State: "Compliant", At: t0})
	p := w.sweep().KPIs.Policy
	if p.Assigned != 2 || p.Agree != 1 || p.DisagreeTotal != 1 || len(p.Disagreements) != 1 {
		t.Fatalf("policy check = %+v; want 2 assigned, 1 agreeing, the SP cluster disagreeing", p)
	}
	d := p.Disagreements[0]
	if !strings.EqualFold(d.Cluster, spID) || d.Guard != string(guard.VerdictServicePrincipal) || !strings.Contains(d.Why, "before the guard read it") {
		t.Errorf("disagreement = %+v; want the SP cluster, with the policy's older evaluation as the reason", d)
	}
}

// TestSweepQueueOutage: re-evaluations the queue refuses are counted as
// waiting and queued by the next sweep; a store that cannot be read fails
// the sweep, which saves no KPIs.
func TestSweepQueueOutage(t *testing.T) {
	w := newWorld(t)
	w.queue.fails = 2
	if out := w.sweep(); out.Evaluations != 0 || out.Waiting != 2 {
		t.Fatalf("sweep with the queue down = %+v, want 2 waiting", out)
	}
	if out := w.sweep(); out.Evaluations != 2 || out.Waiting != 0 {
		t.Errorf("sweep with the queue back = %+v, want 2 queued", out)
	}
}

// TestSweepStoreOutageSavesNothing: a store that cannot be read fails the
// sweep with the error, and no snapshot is saved from half the fleet.
func TestSweepStoreOutageSavesNothing(t *testing.T) {
	w := newWorld(t)
	w.restart(sweeping(w))
	if err := w.az.Faults.Add(azurefake.Tables, azurefake.Fault{Kind: azurefake.Unavailable, Count: 1000}); err != nil {
		t.Fatal(err)
	}
	w.restart(func(c *guard.Config) { c.Store = w.az.Faults.Store(w.store) })
	if _, err := w.svc.Sweep(t.Context()); err == nil || !strings.Contains(err.Error(), "read the findings of subscription") {
		t.Errorf("Sweep() error = %v, want the store's failure", err)
	}
	if hist, _ := w.store.KPIHistory(t.Context(), t0); len(hist) != 0 {
		t.Errorf("KPIHistory() = %d snapshots, want none", len(hist))
	}
}
