package guard_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aksguard/aksguard/pkg/guard"
)

// A role the service principal gains after the plan was shown.
const dnsZone = sub + "/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/privatelink.westeurope.azmk8s.io"

func (w *world) spGainsARole() {
	w.rbac.Add(guard.RoleAssignment{Scope: dnsZone, RoleDefinitionID: networkRole, PrincipalID: spObjectID, PrincipalType: "ServicePrincipal"})
}

// TestPlanShownBeforeApproval: while the job waits for approval it
// computes the plan (reading only), so the approver can read it; the
// approval is taken for that plan, and the job goes on with it.
func TestPlanShownBeforeApproval(t *testing.T) {
	w := remediationWorld(t, enforce)
	w.pump(t0.Add(5 * time.Minute))
	j := w.job()
	if j.State != guard.JobAwaitingApproval || j.Plan == nil || !strings.Contains(j.Outcome, "plan "+j.Plan.Digest()+" ready") || w.puts() != 0 {
		t.Fatalf("job before approval = %s %q (plan %v); want awaiting approval with its plan shown", j.State, j.Outcome, j.Plan != nil)
	}
	for _, a := range w.alerts.Published() {
		if a.Type == guard.AlertFlagged && !strings.Contains(a.Data.Summary, "read the plan first: aksguard status "+id(t, spID).String()) {
			t.Errorf("flagged alert %q does not point at the plan", a.Data.Summary)
		}
	}
	shown := j.Plan.Digest()
	w.tag("approved", dana)
	w.pump(t0.Add(time.Hour))
	if j := w.job(); j.ApprovedPlan != shown || j.State != guard.JobSucceeded || w.puts() != 1 {
		t.Errorf("job = %s, approved plan %q (shown %q), %d PUTs; want succeeded for the plan shown", j.State, j.ApprovedPlan, shown, w.puts())
	}
}

// TestPlanChangedSinceShown: a plan that changed between what the approver
// could see and the job's own planning stops the job, naming the change;
// approving again (remove the tag, set it) runs the new plan.
func TestPlanChangedSinceShown(t *testing.T) {
	w := remediationWorld(t, enforce)
	w.pump(t0.Add(5 * time.Minute))
	w.spGainsARole()
	w.tag("approved", dana)
	w.pump(t0.Add(time.Hour))
	j := w.job()
	if j.State != guard.JobBlocked || !strings.Contains(j.Outcome, "the plan changed since it was shown") || !strings.Contains(j.Outcome, "now grant") || w.puts() != 0 {
		t.Fatalf("job = %s %q after %d PUTs; want blocked, naming the new grant, nothing sent", j.State, j.Outcome, w.puts())
	}
	w.set(t0.Add(2 * time.Hour))
	w.tag("", dana)
	w.tag("approved", dana)
	w.pump(t0.Add(4 * time.Hour))
	if j := w.job(); j.State != guard.JobSucceeded || w.puts() != 1 {
		t.Errorf("after approving again: job = %s %q, %d PUTs; want succeeded with one PUT", j.State, j.Outcome, w.puts())
	}
}

// TestPlanChangedBeforeTheUpdate: approved, waiting for its window; the
// service principal gains a role meanwhile: when the window opens the job
// plans again, sees another plan, and stops before its PUT.
func TestPlanChangedBeforeTheUpdate(t *testing.T) {
	w := remediationWorld(t, enforce)
	closedWindow(w)
	w.tag("approved", dana)
	w.pump(t0.Add(time.Hour))
	if j := w.job(); j.State != guard.JobWaitingWindow || j.ApprovedPlan == "" {
		t.Fatalf("job = %s (approved plan %q); want waiting for the window, its plan approved", j.State, j.ApprovedPlan)
	}
	w.spGainsARole()
	w.pump(time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC))
	j := w.job()
	if j.State != guard.JobBlocked || !strings.Contains(j.Outcome, "the plan changed since it was approved") || w.puts() != 0 {
		t.Errorf("job = %s %q after %d PUTs; want blocked before the PUT, naming the change", j.State, j.Outcome, w.puts())
	}
}

// TestDryRunToEnforceKeepsTheApproval: a job approved in dry run, where
// enforce then applies, is replaced by Reconcile with one that runs for
// real on the same approval while the plan is unchanged; a changed plan
// stops it for a new approval.
func TestDryRunToEnforceKeepsTheApproval(t *testing.T) {
	for _, changed := range []bool{false, true} {
		w := remediationWorld(t)
		w.tag("approved", dana)
		w.pump(t0.Add(time.Hour))
		if j := w.job(); j.State != guard.JobDryRunComplete || j.ApprovedPlan == "" {
			t.Fatalf("job = %s (approved plan %q), want dry-run-complete with its approved plan", j.State, j.ApprovedPlan)
		}
		if changed {
			w.spGainsARole()
		}
		w.restart(enforce)
		out, err := w.svc.Reconcile(t.Context())
		if err != nil || out.Enforced != 1 {
			t.Fatalf("Reconcile() = %+v, %v; want the dry-run job replaced", out, err)
		}
		w.pump(t0.Add(3 * time.Hour))
		j := w.job()
		switch {
		case !changed && (j.State != guard.JobSucceeded || w.puts() != 1):
			t.Errorf("unchanged plan: job = %s %q, %d PUTs; want succeeded without a new approval", j.State, j.Outcome, w.puts())
		case changed && (j.State != guard.JobBlocked || !strings.Contains(j.Outcome, "was approved, for a dry run") || w.puts() != 0):
			t.Errorf("changed plan: job = %s %q, %d PUTs; want blocked for a new approval, nothing sent", j.State, j.Outcome, w.puts())
		}
		if again, _ := w.svc.Reconcile(t.Context()); again.Enforced != 0 {
			t.Errorf("a second Reconcile replaced %d jobs, want none", again.Enforced)
		}
	}
}
