package guard_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"

	"github.com/aksguard/aksguard/pkg/azurefake"
	"github.com/aksguard/aksguard/pkg/guard"
)

// Who approved is taken from Azure's change history, never from the event
// that made the guard look. These tests hold that rule: each names the
// defect it prevents.

func approvers(list ...string) func(*guard.Config) {
	return func(c *guard.Config) { c.Approvers = list }
}

// puts counts the identity updates the fleet accepted for the SP cluster.
func (w *world) puts() int { return w.fleet.Accepted(spID) }

func TestApprovalCreditedToWhoSetIt(t *testing.T) {
	tests := []struct {
		name   string
		list   []string
		value  string
		by     guard.Actor
		via    string
		status guard.ApprovalStatus
		job    guard.JobState
	}{
		{"no list: anyone who may tag", nil, "approved", eve, opTags, guard.ApprovalApproved, guard.JobSucceeded},
		{"listed by object id", []string{dana.ObjectID}, "approved", dana, opTags, guard.ApprovalApproved, guard.JobSucceeded},
		{"listed by UPN", []string{strings.ToUpper(dana.UPN)}, "approved", dana, opTags, guard.ApprovalApproved, guard.JobSucceeded},
		{"through a cluster write (az aks update --tags)", []string{dana.ObjectID}, "approved", dana, opClusterWrite, guard.ApprovalApproved, guard.JobSucceeded},
		{"not listed", []string{dana.ObjectID}, "approved", eve, opTags, guard.ApprovalRejected, guard.JobAwaitingApproval},
		{"exemption, not listed", []string{dana.ObjectID}, "exempt:lab", eve, opTags, guard.ApprovalRejected, guard.JobAwaitingApproval},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := remediationWorld(t, enforce, approvers(tt.list...))
			w.set(t0.Add(2 * time.Minute))
			corr := w.setTag(guard.ApprovalTag, tt.value, tt.by, tt.via)
			w.deliver(tt.via, tt.by, corr, "e-set")
			w.pump(t0.Add(3 * time.Hour))
			f := w.finding()
			if f.Approval == nil || f.Approval.Status != tt.status || f.Approval.By.ObjectID != tt.by.ObjectID || f.Approval.By.UPN != tt.by.UPN {
				t.Fatalf("finding approval = %+v, want %s by %s (object %s)", f.Approval, tt.status, tt.by.UPN, tt.by.ObjectID)
			}
			if f.Approval.Change == nil || f.Approval.Change.CorrelationID != corr {
				t.Errorf("approval credited change = %+v, want Azure's record of request %s", f.Approval.Change, corr)
			}
			if j := w.job(); j.State != tt.job {
				t.Errorf("job = %s %q, want %s", j.State, j.Outcome, tt.job)
			}
			wantPuts := 0
			if tt.job == guard.JobSucceeded {
				wantPuts = 1
			}
			if n := w.puts(); n != wantPuts {
				t.Errorf("PUTs accepted = %d, want %d", n, wantPuts)
			}
		})
	}
}

// TestApproverListNotBypassedByAnotherWrite holds defect 1: Eve, not on
// the list, sets the tag with a cluster write; then Dana, on the list,
// writes another tag through the Tags API, and a late copy of Dana's
// earlier tags event arrives. Neither credits Dana.
func TestApproverListNotBypassedByAnotherWrite(t *testing.T) {
	w := remediationWorld(t, enforce, approvers(dana.ObjectID))
	w.set(t0.Add(2 * time.Minute))
	early := w.setTag("cost-center", "1234", dana, opTags) // its event is delayed
	w.set(t0.Add(3 * time.Minute))
	corr := w.setTag(guard.ApprovalTag, "approved", eve, opClusterWrite)
	w.deliver(opClusterWrite, eve, corr, "eve-update")
	w.set(t0.Add(4 * time.Minute))
	other := w.setTag("owner", "platform", dana, opTags)
	w.deliver(opTags, dana, other, "dana-owner")
	w.deliver(opTags, dana, early, "dana-cost-center-late")
	w.pump(t0.Add(6 * time.Hour))

	if n := w.puts(); n != 0 {
		t.Fatalf("PUTs accepted = %d, want 0: Eve's approval ran (job %s %q)", n, w.job().State, w.job().Outcome)
	}
	f := w.finding()
	if f.Approval == nil || f.Approval.Status != guard.ApprovalRejected || f.Approval.By.UPN != eve.UPN {
		t.Errorf("finding approval = %+v, want rejected, set by Eve", f.Approval)
	}
	for _, e := range w.audit(spID) {
		if e.Action == "approved" {
			t.Errorf("audit has %q by %s: %s", e.Action, e.Actor, e.Detail)
		}
	}
}

// TestRejectedValueSetAgainByAnApprover holds defect 4: after Eve's
// "approved" is rejected, Dana setting the same value changes nothing ARM
// records, so it stays rejected, and the alert says what works: remove the
// tag and set it again.
func TestRejectedValueSetAgainByAnApprover(t *testing.T) {
	w := remediationWorld(t, enforce, approvers(dana.ObjectID))
	w.set(t0.Add(2 * time.Minute))
	w.tag("approved", eve)
	var rejected []string
	for _, a := range w.alerts.Published() {
		if a.Type == guard.AlertRejected {
			rejected = append(rejected, a.Data.Summary)
		}
	}
	if len(rejected) != 1 || !strings.Contains(rejected[0], "removes the tag "+guard.ApprovalTag+" and sets it again") {
		t.Fatalf("rejected alerts = %q, want one telling the approver to remove the tag and set it again", rejected)
	}
	w.set(t0.Add(3 * time.Minute))
	w.tag("approved", dana) // the same value: Azure records no change
	w.pump(t0.Add(time.Hour))
	if f := w.finding(); f.Approval.Status != guard.ApprovalRejected || w.puts() != 0 {
		t.Fatalf("after Dana set the same value: approval %s by %s, %d PUTs; want still rejected (Eve set it), none", f.Approval.Status, f.Approval.By, w.puts())
	}
	w.tag("", dana)
	w.tag("approved", dana)
	w.pump(t0.Add(3 * time.Hour))
	if f := w.finding(); f.Approval.Status != guard.ApprovalApproved || f.Approval.By.ObjectID != dana.ObjectID {
		t.Errorf("after Dana removed and set the tag: approval = %+v, want approved by Dana", f.Approval)
	}
	w.checkRecorded(guard.JobSucceeded, guard.FindingResolved)
}

// TestApprovalWaitsForTheChangeRecord: Azure shows a change record within
// minutes; until Dana's is there, nothing runs, and then it does.
func TestApprovalWaitsForTheChangeRecord(t *testing.T) {
	w := remediationWorld(t, enforce)
	w.fleet.SetChangeDelay(4 * time.Minute)
	w.set(t0.Add(2 * time.Minute))
	if out := w.tag("approved", dana); !strings.HasPrefix(out.Detail, "pending") {
		t.Errorf("tags event = %+v, want the approval pending", out)
	}
	w.pump(t0.Add(5 * time.Minute))
	if f := w.finding(); f.Approval.Status != guard.ApprovalPending || w.puts() != 0 {
		t.Fatalf("before the record shows: approval %s, %d PUTs; want pending, none", f.Approval.Status, w.puts())
	}
	w.pump(t0.Add(2 * time.Hour))
	if f := w.finding(); f.Approval.Status != guard.ApprovalApproved || f.Approval.By.UPN != dana.UPN {
		t.Errorf("approval = %+v, want approved by Dana once her record showed", f.Approval)
	}
	actions := w.auditActions()
	if i, j := slices.Index(actions, "approval-pending"), slices.Index(actions, "approved"); i < 0 || j < i {
		t.Errorf("audit %q, want approval-pending, then approved", actions)
	}
	w.checkRecorded(guard.JobSucceeded, guard.FindingResolved)
}

// TestApprovalUnverifiedWithoutARecord: a tag set by a caller Azure cannot
// name (or whose record never shows) is never credited to whoever's event
// revealed it: after the wait it is unverified, alerted, and nothing runs
// until someone sets it again.
func TestApprovalUnverifiedWithoutARecord(t *testing.T) {
	w := remediationWorld(t, enforce)
	w.set(t0.Add(2 * time.Minute))
	mc, _ := w.fleet.Cluster(spID)
	mc.Tags = map[string]*string{guard.ApprovalTag: to.Ptr("approved")}
	w.fleet.Put(mc) // changedBy Unknown
	w.deliver(opTags, dana, "", "dana-tags")
	w.pump(t0.Add(3 * time.Hour))
	f := w.finding()
	if f.Approval == nil || f.Approval.Status != guard.ApprovalUnverified {
		t.Fatalf("approval = %+v, want unverified", f.Approval)
	}
	if n := w.puts(); n != 0 {
		t.Errorf("PUTs = %d, want none", n)
	}
	if !slices.Contains(w.alertTypes(), "remediation.unverified") {
		t.Errorf("alerts = %q, want remediation.unverified", w.alertTypes())
	}
	w.tag("", dana)
	w.tag("approved", dana)
	w.pump(t0.Add(6 * time.Hour))
	w.checkRecorded(guard.JobSucceeded, guard.FindingResolved)
}

// TestChangeHistoryForbiddenIsUnverified: without read access to the
// change history nothing can be verified; the guard says so at once, and
// once the access is granted a timer finds Dana's record.
func TestChangeHistoryForbiddenIsUnverified(t *testing.T) {
	w := remediationWorld(t, enforce)
	if err := w.az.Faults.Add(azurefake.ChangeHistory, azurefake.Fault{Kind: azurefake.Forbidden, For: 4 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	w.tag("approved", dana)
	f := w.finding()
	if f.Approval == nil || f.Approval.Status != guard.ApprovalUnverified || !strings.Contains(f.Approval.Reason, "Reader") {
		t.Fatalf("approval = %+v, want unverified, naming the permission", f.Approval)
	}
	w.pump(t0.Add(3 * time.Hour))
	if n := w.puts(); n != 0 {
		t.Errorf("PUTs = %d, want none while the history cannot be read", n)
	}
	w.pump(t0.Add(24 * time.Hour))
	if f := w.finding(); f.Approval.Status != guard.ApprovalApproved || f.Approval.By.UPN != dana.UPN {
		t.Errorf("approval once the history is readable = %+v, want approved by Dana", f.Approval)
	}
	w.checkRecorded(guard.JobSucceeded, guard.FindingResolved)
}

// TestApprovalSeenByATimerFirst: Dana's tags event is late; a job timer
// reads the tag first and credits Dana from Azure's record.
func TestApprovalSeenByATimerFirst(t *testing.T) {
	w := remediationWorld(t, enforce, approvers(dana.ObjectID))
	w.set(t0.Add(30 * time.Second))
	corr := w.setTag(guard.ApprovalTag, "approved", dana, opTags)
	w.pump(t0.Add(3 * time.Hour)) // the job's first timer reads the cluster
	w.deliver(opTags, dana, corr, "dana-late")
	w.pump(t0.Add(4 * time.Hour))
	if f := w.finding(); f.Approval.By.ObjectID != dana.ObjectID {
		t.Errorf("approval = %+v, want Dana's", f.Approval)
	}
	w.checkRecorded(guard.JobSucceeded, guard.FindingResolved)
}

// TestApprovalNotCreditedToABystander: an approval first seen through
// Eve's agent-pool write was set by Dana; the audit trail and the alert
// name Dana.
func TestApprovalNotCreditedToABystander(t *testing.T) {
	w := remediationWorld(t, enforce)
	w.set(t0.Add(5 * time.Minute))
	w.setTag(guard.ApprovalTag, "approved", dana, opTags) // its event is lost
	ev := write(t, spID, "eve-scales", w.clock())
	ev.Operation, ev.Actor = opPoolWrite, eve
	if _, err := w.svc.HandleEvent(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	w.pump(t0.Add(10 * time.Minute))
	approved := 0
	for _, e := range w.audit(spID) {
		if e.Action == "approved" {
			approved++
			if strings.Contains(e.Detail, eve.UPN) || e.Actor != dana.UPN {
				t.Errorf("audit %q by %s; want Dana credited, not Eve", e.Detail, e.Actor)
			}
		}
	}
	if approved != 1 {
		t.Errorf("approved audit entries = %d, want 1", approved)
	}
	for _, a := range w.alerts.Published() {
		if a.Type == guard.AlertApproved && a.Data.Actor != dana.UPN {
			t.Errorf("approved alert credits %q, want Dana", a.Data.Actor)
		}
	}
}

// TestCreatedWithTheTag: a cluster created with the tag is credited to its
// creator, through the Create record (creation records list no tags).
func TestCreatedWithTheTag(t *testing.T) {
	for _, tt := range []struct {
		by     guard.Actor
		status guard.ApprovalStatus
		job    guard.JobState
	}{
		// The update moves the control plane; kubelet waits for each
		// pool's node image upgrade.
		{dana, guard.ApprovalApproved, guard.JobKubeletPending},
		{eve, guard.ApprovalRejected, guard.JobAwaitingApproval},
	} {
		t.Run(tt.by.Name, func(t *testing.T) {
			w := newWorld(t, enforce, approvers(dana.ObjectID))
			w.fleet.SetUpdatePolls(0)
			w.graph.Add(guard.Principal{AppID: spAppID, ObjectID: spObjectID})
			mc, _ := w.fleet.Cluster(spID)
			w.fleet.Delete(spID)
			mc.Tags = map[string]*string{guard.ApprovalTag: to.Ptr("approved")}
			mc.Properties.ProvisioningState = to.Ptr("Creating")
			corr := w.fleet.PutAs(mc, caller(tt.by), azurefake.Write{})
			ev := write(t, spID, "create", t0)
			ev.Actor, ev.CorrelationID = tt.by, corr
			if out, err := w.svc.HandleEvent(t.Context(), ev); err != nil || out.Result != guard.ResultFlagged {
				t.Fatalf("create = %+v, %v", out, err)
			}
			mc.Properties.ProvisioningState = to.Ptr("Succeeded") // AKS finishes creating it
			w.fleet.PutAs(mc, azurefake.Caller{}, azurefake.Write{})
			w.pump(t0.Add(time.Hour))
			f := w.finding()
			if f.Approval == nil || f.Approval.Status != tt.status || f.Approval.By.UPN != tt.by.UPN || f.Approval.Change.Type != guard.ChangeCreate {
				t.Errorf("finding approval = %+v, want %s by %s through the Create record", f.Approval, tt.status, tt.by.UPN)
			}
			if j := w.job(); j.State != tt.job {
				t.Errorf("job = %s %q, want %s", j.State, j.Outcome, tt.job)
			}
		})
	}
}

// TestApprovalSetAgainBySomeoneElseHoldsTheJob: Dana's approval is
// verified and the job waits for its window; Eve removes the tag and sets
// it again. Until Azure shows Eve's records the job holds (no PUT, even
// with the window open); then Eve's value is rejected and the job is
// cancelled.
func TestApprovalSetAgainBySomeoneElseHoldsTheJob(t *testing.T) {
	// Through the Tags API, or az aks update --tags (a cluster write).
	for _, op := range []string{opTags, opClusterWrite} {
		t.Run(op, func(t *testing.T) {
			w := remediationWorld(t, enforce, approvers(dana.ObjectID))
			closedWindow(w)
			w.tag("approved", dana)
			w.pump(t0.Add(time.Hour))
			if j := w.job(); j.State != guard.JobWaitingWindow {
				t.Fatalf("job = %s %q, want waiting for Sunday's window", j.State, j.Outcome)
			}
			sunday := time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC)
			w.set(sunday.Add(-time.Minute))
			w.fleet.SetChangeDelay(10 * time.Minute) // Azure is slow today
			w.setTag(guard.ApprovalTag, "", eve, op)
			corr := w.setTag(guard.ApprovalTag, "approved", eve, op)
			w.deliver(op, eve, corr, "eve-sets-again") // the removal's event is lost
			if f := w.finding(); !strings.Contains(f.Approval.Awaiting, corr) {
				t.Fatalf("approval = %+v, want Dana's held, awaiting the record of %s", f.Approval, corr)
			}
			w.pump(sunday.Add(5 * time.Minute)) // the window opens while the approval is held
			if n := w.puts(); n != 0 {
				t.Fatalf("PUTs = %d while the approval was held", n)
			}
			w.pump(sunday.Add(time.Hour))
			f := w.finding()
			if f.Approval.Status != guard.ApprovalRejected || f.Approval.By.UPN != eve.UPN {
				t.Errorf("approval = %+v, want rejected, set by Eve", f.Approval)
			}
			if j := w.job(); j.State != guard.JobCancelled {
				t.Errorf("job = %s %q, want cancelled", j.State, j.Outcome)
			}
			if n := w.puts(); n != 0 {
				t.Errorf("PUTs = %d, want none", n)
			}
		})
	}
}

// TestIdentityTagNeedsAnApprover: the user-assigned identity the control
// plane moves to gets the service principal's roles, so the tag that names
// it counts only when someone allowed to approve set it.
func TestIdentityTagNeedsAnApprover(t *testing.T) {
	const uai = "/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourceGroups/rg-eve/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-eve"
	for _, tt := range []struct {
		by   guard.Actor
		want guard.JobState
	}{
		{eve, guard.JobBlocked},
		{dana, guard.JobSucceeded},
	} {
		t.Run(tt.by.Name, func(t *testing.T) {
			w := remediationWorld(t, enforce, approvers(dana.ObjectID))
			w.graph.AddManagedIdentity(uai, guard.Principal{AppID: "aaaa1111-2222-3333-4444-555566667777", ObjectID: "bbbb1111-2222-3333-4444-555566667777"})
			w.setTag(guard.IdentityTag, uai, tt.by, opTags)
			w.set(t0.Add(time.Minute))
			w.tag("approved", dana)
			w.pump(t0.Add(3 * time.Hour))
			j := w.job()
			if j.State != tt.want {
				t.Errorf("job = %s %q, want %s", j.State, j.Outcome, tt.want)
			}
			if tt.want == guard.JobBlocked && (!strings.Contains(j.Outcome, eve.UPN) || w.puts() != 0 || w.rbac.Calls("Create") != 0) {
				t.Errorf("job %q, %d PUTs, %d grants; want blocked naming Eve, nothing granted or sent", j.Outcome, w.puts(), w.rbac.Calls("Create"))
			}
		})
	}
}

// TestApprovalRecordedOnce: reads after an approval was credited find the
// same change record and record nothing new: one "approved" entry and one
// alert, however many events follow.
func TestApprovalRecordedOnce(t *testing.T) {
	w := newWorld(t) // dry-run: the job stops before any update
	if _, err := w.svc.HandleEvent(t.Context(), write(t, spID, "create", t0)); err != nil {
		t.Fatal(err)
	}
	w.tag("approved", dana)
	for i := range 3 {
		w.set(w.clock().Add(10 * time.Minute))
		corr := w.setTag("owner", fmt.Sprintf("team-%d", i), dana, opTags)
		w.deliver(opTags, dana, corr, fmt.Sprintf("owner-%d", i))
	}
	approved := 0
	for _, a := range w.auditActions() {
		if a == "approved" {
			approved++
		}
	}
	alerts := 0
	for _, a := range w.alertTypes() {
		if a == "remediation.approved" {
			alerts++
		}
	}
	if approved != 1 || alerts != 1 {
		t.Errorf("%d approved entries, %d approved alerts; want one each (audit %q)", approved, alerts, w.auditActions())
	}
}

// TestApproverGroups: AKSGUARD_APPROVERS may name Entra groups; a person in
// one, directly or through a nested group, approves; anyone else is
// rejected; when Graph refuses to say, the approval is not credited.
func TestApproverGroups(t *testing.T) {
	const platform, oncall = "0a1b2c3d-0000-4000-8000-00000000a001", "0a1b2c3d-0000-4000-8000-00000000a002"
	for _, tt := range []struct {
		name     string
		by       guard.Actor
		graphErr bool
		want     guard.ApprovalStatus
	}{
		{"member of a nested group", dana, false, guard.ApprovalApproved},
		{"not a member", eve, false, guard.ApprovalRejected},
		{"Graph refuses", dana, true, guard.ApprovalUnverified},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := remediationWorld(t, approvers(platform))
			w.graph.AddGroup(platform, oncall)
			w.graph.AddGroup(oncall, dana.ObjectID)
			w.setTag(guard.ApprovalTag, "approved", tt.by, opTags)
			w.set(t0.Add(10 * time.Minute)) // the change record shows
			if tt.graphErr {
				w.restart(func(c *guard.Config) { c.Directory = groupsRefused{c.Directory} })
			}
			w.deliver(opTags, tt.by, "", "tag-event")
			a := w.finding().Approval
			if tt.graphErr {
				if a == nil || a.Status == guard.ApprovalApproved || !strings.Contains(a.Reason, "approver group") {
					t.Errorf("approval = %+v, want not credited, saying the group could not be checked", a)
				}
				return
			}
			if a == nil || a.Status != tt.want {
				t.Errorf("approval = %+v, want %s", a, tt.want)
			}
		})
	}
}

// groupsRefused is a directory that may not read group memberships.
type groupsRefused struct{ guard.Directory }

func (groupsRefused) MemberOf(context.Context, string, []string) ([]string, error) {
	return nil, guard.Errorf(guard.KindForbidden, "HTTP 403 Authorization_RequestDenied (grant GroupMember.Read.All)")
}

// TestExemptionExpires: an exemption with an end date holds until the end
// of that day (UTC); then the cluster, still on a service principal, is
// flagged again with a new job, audited and alerted, without any event.
func TestExemptionExpires(t *testing.T) {
	w := remediationWorld(t)
	w.tag("exempt:2026-11-28:decommission pending", dana)
	w.pump(t0.Add(10 * time.Minute))
	if f := w.finding(); f.State != guard.FindingExempt {
		t.Fatalf("finding = %s, want exempt", f.State)
	}
	first := w.finding().JobID
	w.pump(time.Date(2026, 11, 28, 23, 0, 0, 0, time.UTC))
	if f := w.finding(); f.State != guard.FindingExempt {
		t.Errorf("finding on the last day = %s, want still exempt", f.State)
	}
	w.pump(time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC))
	f := w.finding()
	if f.State != guard.FindingOpen || f.JobID == first || !slices.Contains(w.alertTypes(), "cluster.exemption-expired") || !slices.Contains(w.auditActions(), "exemption-expired") {
		t.Errorf("after the end: finding %s (job %s, was %s), alerts %q; want open again with a new job, the expiry alerted and audited", f.State, f.JobID, first, w.alertTypes())
	}
	if w.job().State != guard.JobAwaitingApproval {
		t.Errorf("new job = %s, want awaiting-approval", w.job().State)
	}
}
