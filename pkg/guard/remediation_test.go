package guard_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"

	"github.com/aksguard/aksguard/pkg/azurefake"
	"github.com/aksguard/aksguard/pkg/guard"
)

// The service principal of the recorded SP cluster (spID), and what it holds.
const (
	spAppID     = "63113597-dbba-427d-82d3-94e4060d0e8b"
	spObjectID  = "2f0e1d2c-3b4a-4596-8877-66554433aa11"
	sub         = "/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c"
	acr         = sub + "/resourceGroups/rg-shared/providers/Microsoft.ContainerRegistry/registries/crshared"
	vnet        = sub + "/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-1"
	networkRole = "/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/providers/Microsoft.Authorization/roleDefinitions/4d97b98b-1d4f-4787-a291-c67834d212e7"
	acrPullRole = "/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/providers/Microsoft.Authorization/roleDefinitions/" + guard.AcrPullRoleID
)

var (
	dana = guard.Actor{ObjectID: "5f0c2a4e-8d9b-4c71-9e3a-2b6d1f7a8c90", UPN: "dana@contoso.com", Name: "Dana"}
	eve  = guard.Actor{ObjectID: "e0e0e0e0-0000-4000-8000-000000000001", UPN: "eve@contoso.com", Name: "Eve"}
)

func enforce(c *guard.Config) { c.Mode = guard.ModeEnforce; c.PollWait = time.Millisecond }

// remediationWorld is a world whose SP cluster is flagged and whose service
// principal holds a Network Contributor and an AcrPull assignment.
func remediationWorld(t *testing.T, opts ...func(*guard.Config)) *world {
	t.Helper()
	// These tests are about the control plane: the update reimages the
	// nodes, so kubelet moves with it. kubelet_test.go holds the node
	// image upgrades.
	return spWorld(t, func(w *world) { w.fleet.SetKubeletAtUpdate(true) }, opts...)
}

// spWorld is remediationWorld with the fleet set up by setup before the
// cluster is flagged.
func spWorld(t *testing.T, setup func(*world), opts ...func(*guard.Config)) *world {
	t.Helper()
	w := newWorld(t, opts...)
	w.fleet.SetUpdatePolls(0)
	setup(w)
	w.graph.Add(guard.Principal{AppID: spAppID, ObjectID: spObjectID, DisplayName: "sp-aks"})
	w.rbac.Add(guard.RoleAssignment{Scope: vnet, RoleDefinitionID: networkRole, PrincipalID: spObjectID, PrincipalType: "ServicePrincipal"})
	w.rbac.Add(guard.RoleAssignment{Scope: acr, RoleDefinitionID: acrPullRole, PrincipalID: spObjectID, PrincipalType: "ServicePrincipal"})
	if out, err := w.svc.HandleEvent(t.Context(), write(t, spID, "create", t0.Add(-time.Second))); err != nil || out.Result != guard.ResultFlagged {
		t.Fatalf("flag: %+v, %v", out, err)
	}
	return w
}

// tag sets or removes the approval tag with the Tags API, the way a person
// does, and delivers the tags-write event ARM sends.
func (w *world) tag(value string, by guard.Actor) guard.Outcome {
	w.t.Helper()
	corr := w.setTag(guard.ApprovalTag, value, by, opTags)
	return w.deliver(opTags, by, corr, "tag-"+value+"-"+w.clock().Format("150405"))
}

const (
	opTags         = "Microsoft.Resources/tags/write"
	opClusterWrite = "Microsoft.ContainerService/managedClusters/write"
	opPoolWrite    = "Microsoft.ContainerService/managedClusters/agentPools/write"
)

// setTag sets (or, with an empty value, removes) a tag of the SP cluster as
// by does with op (the Tags API, or a cluster write such as az aks update
// --tags), and returns the request's correlation id. ARM records the
// change in the cluster's change history; no event is delivered.
func (w *world) setTag(key, value string, by guard.Actor, op string) string {
	w.t.Helper()
	mc, ok := w.fleet.Cluster(spID)
	if !ok {
		w.t.Fatalf("no cluster %s", spID)
	}
	if mc.Tags == nil {
		mc.Tags = map[string]*string{}
	}
	if value == "" {
		delete(mc.Tags, key)
	} else {
		mc.Tags[key] = to.Ptr(value)
	}
	return w.fleet.PutAs(mc, caller(by), azurefake.Write{Operation: op})
}

// deliver hands the intake the event ARM sends for the SP cluster's
// request corr, by by, with operation op.
func (w *world) deliver(op string, by guard.Actor, corr, eventID string) guard.Outcome {
	w.t.Helper()
	action := guard.ActionEvaluate
	if op == opTags {
		action = guard.ActionApprovalCheck
	}
	ev := guard.Event{ID: eventID, Type: "Microsoft.Resources.ResourceWriteSuccess", Time: w.clock(),
		Operation: op, Cluster: id(w.t, spID), Action: action, Actor: by, CorrelationID: corr}
	out, err := w.svc.HandleEvent(w.t.Context(), ev)
	if err != nil {
		w.t.Fatalf("event %s: %v", eventID, err)
	}
	return out
}

// caller is how Azure's change history names a: by e-mail for a person,
// by application id for a service principal.
func caller(a guard.Actor) azurefake.Caller {
	if a.UPN != "" {
		return azurefake.Caller{ChangedBy: a.UPN, Type: azurefake.CallerUser, ClientType: "Azure CLI"}
	}
	return azurefake.Caller{ChangedBy: a.AppID, Type: azurefake.CallerApplication}
}

// pump lets time run to until, delivering each queued message when due,
// the way the Service Bus trigger does; it fails the test when the handler
// asks for a redelivery.
func (w *world) pump(until time.Time) []guard.Outcome {
	w.t.Helper()
	var outs []guard.Outcome
	for {
		next, ok := w.queue.Next()
		if !ok || next.After(until) {
			break
		}
		if next.After(w.clock()) {
			w.set(next)
		}
		for _, m := range w.queue.Due(w.clock()) {
			out, err := w.svc.HandleMessage(w.t.Context(), m)
			if err != nil {
				w.t.Fatalf("message %s (%s): %v", m.ID, m.Reason, err)
			}
			outs = append(outs, out)
		}
	}
	w.set(until)
	return outs
}

func (w *world) job() guard.Job {
	w.t.Helper()
	f, err := w.store.Finding(w.t.Context(), id(w.t, spID))
	if err != nil {
		w.t.Fatal(err)
	}
	j, err := w.store.Job(w.t.Context(), f.Cluster, f.JobID)
	if err != nil {
		w.t.Fatal(err)
	}
	return j
}

func (w *world) finding() guard.Finding {
	w.t.Helper()
	return w.findingOf(spID)
}

func (w *world) findingOf(cluster string) guard.Finding {
	w.t.Helper()
	f, err := w.store.Finding(w.t.Context(), id(w.t, cluster))
	if err != nil {
		w.t.Fatalf("Finding(%s): %v", cluster, err)
	}
	return f
}

// auditActions lists the cluster's audit actions, oldest first, without the
// routine re-evaluations.
func (w *world) auditActions() []string {
	w.t.Helper()
	var out []string
	for _, e := range w.audit(spID) {
		if e.Action != "evaluated" {
			out = append(out, e.Action)
		}
	}
	return out
}

func (w *world) alertTypes() []string {
	var out []string
	for _, a := range w.alerts.Published() {
		out = append(out, strings.TrimPrefix(string(a.Type), "aksguard."))
	}
	return out
}

// checkRecorded checks what a test's job left in the records: the job and
// the finding in these states, the job's last audit entry for its state,
// and no effect left undone.
func (w *world) checkRecorded(job guard.JobState, finding guard.FindingState) {
	w.t.Helper()
	if j := w.job(); j.State != job {
		w.t.Errorf("job = %s %q, want %s", j.State, j.Outcome, job)
	}
	if f := w.finding(); f.State != finding {
		w.t.Errorf("finding = %s %q, want %s", f.State, f.Resolution, finding)
	}
	var last string
	for _, a := range w.auditActions() {
		if strings.HasPrefix(a, "job-") {
			last = a
		}
	}
	if want := "job-" + string(job); job != guard.JobAwaitingApproval && last != want {
		w.t.Errorf("last job audit entry = %q, want %q (audit %q)", last, want, w.auditActions())
	}
	w.checkNothingPending()
}

// checkNothingPending fails when an effect was decided and never carried out.
func (w *world) checkNothingPending() {
	w.t.Helper()
	for _, f := range w.findings() {
		if len(f.Outbox) > 0 {
			w.t.Errorf("finding %s keeps %d effects pending", f.Cluster.Name, len(f.Outbox))
		}
	}
	for _, j := range w.jobs() {
		if len(j.Outbox) > 0 {
			w.t.Errorf("job %s keeps %d effects pending", j.ID, len(j.Outbox))
		}
	}
}

func TestRemediationEnforce(t *testing.T) {
	w := remediationWorld(t, enforce)
	w.set(t0.Add(2 * time.Minute))
	if out := w.tag("approved", dana); out.Result != guard.ResultApproval {
		t.Fatalf("approval = %+v", out)
	}
	w.pump(t0.Add(time.Hour))

	j := w.job()
	if j.State != guard.JobSucceeded || j.Approval == nil || j.Approval.By.UPN != "dana@contoso.com" {
		t.Fatalf("job = %s (%s), approval %+v; want succeeded, approved by dana", j.State, j.Outcome, j.Approval)
	}
	if j.Plan == nil || j.Plan.ServicePrincipal.ObjectID != spObjectID || len(j.Plan.ControlPlane) != 1 || len(j.Plan.Kubelet) != 1 {
		t.Errorf("plan = %+v; want the SP with one control-plane and one AcrPull assignment", j.Plan)
	}
	mc, _ := w.fleet.Cluster(spID)
	if *mc.Properties.ServicePrincipalProfile.ClientID != "msi" || mc.Identity == nil || *mc.Identity.Type != armcontainerservice.ResourceIdentityTypeSystemAssigned {
		t.Errorf("cluster after the job: identity %+v, clientId %s", mc.Identity, *mc.Properties.ServicePrincipalProfile.ClientID)
	}
	if n := w.fleet.Calls("BeginCreateOrUpdate"); n != 1 {
		t.Errorf("PUTs = %d, want 1", n)
	}
	principal, kubelet := *mc.Identity.PrincipalID, *mc.Properties.IdentityProfile["kubeletidentity"].ObjectID
	var got []string
	for _, a := range w.rbac.Assignments() {
		switch a.PrincipalID {
		case principal:
			got = append(got, "control-plane "+a.Scope)
		case kubelet:
			got = append(got, "kubelet "+a.Scope)
		}
	}
	if !slices.Contains(got, "control-plane "+vnet) || !slices.Contains(got, "kubelet "+acr) || len(got) != 2 {
		t.Errorf("new role assignments = %q; want Network Contributor on the vnet for the control plane and AcrPull for the kubelet", got)
	}
	if f := w.finding(); f.State != guard.FindingResolved {
		t.Errorf("finding = %s, want resolved", f.State)
	}
	wantAudit := []string{"flagged", "approved", "job-planned", "job-updating", "job-regranting", "job-verifying", "job-succeeded", "resolved"}
	if got := w.auditActions(); strings.Join(got, ",") != strings.Join(wantAudit, ",") {
		t.Errorf("audit = %q, want %q", got, wantAudit)
	}
	wantAlerts := []string{"cluster.flagged", "remediation.approved", "remediation.planned", "remediation.started", "remediation.succeeded", "cluster.resolved"}
	if got := w.alertTypes(); strings.Join(got, ",") != strings.Join(wantAlerts, ",") {
		t.Errorf("alerts = %q, want %q", got, wantAlerts)
	}
	for _, a := range w.alerts.Published() {
		if a.Type == guard.AlertSucceeded && !strings.Contains(a.Data.FollowUp, "az ad sp delete --id "+spAppID) {
			t.Errorf("succeeded alert follow-up = %q, want the command to delete the old SP", a.Data.FollowUp)
		}
	}
	w.checkNothingPending()
}

func TestRemediationDryRun(t *testing.T) {
	w := remediationWorld(t) // dry-run is the default
	w.set(t0.Add(2 * time.Minute))
	w.tag("approved", dana)
	w.pump(t0.Add(time.Hour))
	j := w.job()
	if j.State != guard.JobDryRunComplete || j.Mode != guard.ModeDryRun || j.Plan == nil {
		t.Errorf("job = %s, mode %s, plan %v; want dry-run-complete with the plan recorded", j.State, j.Mode, j.Plan != nil)
	}
	if n := w.fleet.Calls("BeginCreateOrUpdate") + w.rbac.Calls("Create"); n != 0 {
		t.Errorf("writes = %d, want none in dry-run", n)
	}
	if f := w.finding(); f.State != guard.FindingOpen {
		t.Errorf("finding = %s, want still open", f.State)
	}
	w.checkNothingPending()
}

func TestEnforceScopes(t *testing.T) {
	w := remediationWorld(t, enforce, func(c *guard.Config) {
		c.EnforceScopes = []string{"/subscriptions/00000000-0000-0000-0000-000000000000"}
	})
	w.tag("approved", dana)
	w.pump(t0.Add(time.Hour))
	if j := w.job(); j.State != guard.JobDryRunComplete {
		t.Errorf("job outside the enforce scopes = %s, want dry-run-complete", j.State)
	}
}

func TestApprovalByNonAllowedPrincipal(t *testing.T) {
	w := remediationWorld(t, enforce, func(c *guard.Config) { c.Approvers = []string{dana.ObjectID} })
	out := w.tag("approved", eve)
	if !strings.Contains(out.Detail, "eve@contoso.com is not on the approver list") {
		t.Errorf("approval by eve = %+v, want it rejected", out)
	}
	w.pump(t0.Add(3 * time.Hour))
	j := w.job()
	// The plan is previewed for the approver to read; nothing is granted
	// or sent.
	if j.State != guard.JobAwaitingApproval || j.ApprovedPlan != "" || w.puts() != 0 || w.rbac.Calls("Create") != 0 || !strings.Contains(j.Outcome, "not on the approver list") {
		t.Errorf("job = %s %q (approved plan %q), %d PUTs; want still awaiting approval, nothing approved or changed, saying why", j.State, j.Outcome, j.ApprovedPlan, w.puts())
	}
	if !slices.Contains(w.alertTypes(), "remediation.rejected") || !slices.Contains(w.auditActions(), "approval-rejected") {
		t.Errorf("alerts %q, audit %q; want the rejection alerted and recorded", w.alertTypes(), w.auditActions())
	}
	// Then Dana approves: the job runs.
	w.tag("removed-by-eve", eve) // an invalid value first, also alerted
	w.tag("approved", dana)
	w.pump(t0.Add(5 * time.Hour))
	if j := w.job(); j.State != guard.JobSucceeded {
		t.Errorf("job after dana's approval = %s (%s), want succeeded", j.State, j.Outcome)
	}
	w.checkNothingPending()
}

// closedWindow gives the cluster a maintenance window that is closed at t0:
// Sundays 01:00–05:00 UTC.
func closedWindow(w *world) {
	w.fleet.SetMaintenanceConfigs(spID, []armcontainerservice.MaintenanceConfiguration{{
		Name: to.Ptr("default"),
		Properties: &armcontainerservice.MaintenanceConfigurationProperties{
			TimeInWeek: []*armcontainerservice.TimeInWeek{{Day: to.Ptr(armcontainerservice.WeekDaySunday), HourSlots: []*int32{to.Ptr[int32](1), to.Ptr[int32](2), to.Ptr[int32](3), to.Ptr[int32](4)}}},
		},
	}})
}

func TestWaitsForTheWindow(t *testing.T) {
	w := remediationWorld(t, enforce)
	closedWindow(w)
	w.tag("approved", dana)
	w.pump(t0.Add(time.Hour))
	j := w.job()
	sunday := time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC)
	if j.State != guard.JobWaitingWindow || !j.NextWake.Equal(sunday) {
		t.Fatalf("job = %s, next wake %v; want waiting for Sunday 01:00", j.State, j.NextWake)
	}
	w.pump(sunday.Add(time.Hour))
	if j := w.job(); j.State != guard.JobSucceeded || !j.UpdateStartedAt.Equal(sunday) {
		t.Errorf("job = %s, update started %v; want succeeded, started when the window opened", j.State, j.UpdateStartedAt)
	}
}

func TestApprovalRemovedBeforeTheUpdate(t *testing.T) {
	w := remediationWorld(t, enforce)
	closedWindow(w)
	w.tag("approved", dana)
	w.pump(t0.Add(time.Hour))
	w.tag("", dana)
	w.pump(t0.Add(2 * time.Hour))
	j := w.job()
	if j.State != guard.JobCancelled || !strings.Contains(j.Outcome, "approval was removed") {
		t.Errorf("job = %s %q; want cancelled because the approval was removed", j.State, j.Outcome)
	}
	w.pump(t0.Add(72 * time.Hour)) // past the window: nothing may happen
	if n := w.fleet.Calls("BeginCreateOrUpdate"); n != 0 {
		t.Errorf("PUTs = %d, want none", n)
	}
	if !slices.Contains(w.alertTypes(), "remediation.cancelled") || !slices.Contains(w.auditActions(), "approval-removed") {
		t.Errorf("alerts %q, audit %q", w.alertTypes(), w.auditActions())
	}
	w.checkNothingPending()
}

func TestClusterDeletedWhileWaiting(t *testing.T) {
	w := remediationWorld(t, enforce)
	closedWindow(w)
	w.tag("approved", dana)
	w.pump(t0.Add(time.Hour))
	w.fleet.Delete(spID)
	del := guard.Event{ID: "delete", Type: "Microsoft.Resources.ResourceDeleteSuccess", Time: w.clock(), Cluster: id(t, spID), Action: guard.ActionClose, Actor: dana}
	if _, err := w.svc.HandleEvent(t.Context(), del); err != nil {
		t.Fatal(err)
	}
	w.pump(t0.Add(2 * time.Hour))
	if j := w.job(); j.State != guard.JobCancelled {
		t.Errorf("job = %s %q, want cancelled", j.State, j.Outcome)
	}
	if f := w.finding(); f.State != guard.FindingResolved || f.Resolution != "cluster deleted" {
		t.Errorf("finding = %s %q", f.State, f.Resolution)
	}
	w.checkNothingPending()
}

func TestMigratedBySomeoneElseWhileWaiting(t *testing.T) {
	w := remediationWorld(t, enforce)
	closedWindow(w)
	w.tag("approved", dana)
	w.pump(t0.Add(time.Hour))
	mc, _ := w.fleet.Cluster(spID)
	mc.Identity = &armcontainerservice.ManagedClusterIdentity{Type: to.Ptr(armcontainerservice.ResourceIdentityTypeSystemAssigned), PrincipalID: to.Ptr("11112222-3333-4444-5555-666677778888")}
	mc.Properties.ServicePrincipalProfile.ClientID = to.Ptr("msi")
	w.fleet.Put(mc)
	if _, err := w.svc.HandleEvent(t.Context(), write(t, spID, "by-hand", w.clock())); err != nil {
		t.Fatal(err)
	}
	w.pump(t0.Add(2 * time.Hour))
	if j := w.job(); j.State != guard.JobCancelled || !strings.Contains(j.Outcome, "migrated by someone else") {
		t.Errorf("job = %s %q, want cancelled: migrated by someone else", j.State, j.Outcome)
	}
	if n := w.fleet.Calls("BeginCreateOrUpdate"); n != 0 {
		t.Errorf("PUTs = %d, want none", n)
	}
	// Migrated by hand, kubelet still waits for its node image upgrades.
	w.checkRecorded(guard.JobCancelled, guard.FindingKubeletPending)
}

func TestThrottledReadAndPutAreRetriedLater(t *testing.T) {
	w := remediationWorld(t, enforce)
	w.tag("approved", dana)
	w.fleet.FailNext("Get", 1, 429, "TooManyRequests", 40*time.Second)
	outs := w.pump(w.clock())
	if len(outs) == 0 || !strings.Contains(outs[0].Detail, "retrying at") {
		t.Fatalf("first wake = %+v; want a scheduled retry, not a failed delivery", outs)
	}
	j := w.job()
	if j.State != guard.JobAwaitingApproval || !j.NextWake.Equal(w.clock().Add(40*time.Second)) {
		t.Errorf("job = %s, next wake %v; want a retry after the 40s Retry-After", j.State, j.NextWake)
	}
	w.fleet.FailNext("BeginCreateOrUpdate", 1, 429, "TooManyRequests", 90*time.Second)
	retryAt := j.NextWake // the PUT is sent when this wake-up is handled
	w.pump(w.clock().Add(45 * time.Second))
	j = w.job()
	if j.State != guard.JobUpdating || j.Attempts != 1 || !strings.Contains(j.Error, "TooManyRequests") {
		t.Errorf("after a throttled PUT: job = %s, attempts %d, error %q", j.State, j.Attempts, j.Error)
	}
	if want := retryAt.Add(90 * time.Second); !j.NextWake.Equal(want) {
		t.Errorf("next wake after the throttled PUT = %v, want %v (its 90s Retry-After)", j.NextWake, want)
	}
	w.pump(w.clock().Add(time.Hour))
	if j := w.job(); j.State != guard.JobSucceeded || w.fleet.Calls("BeginCreateOrUpdate") != 2 {
		t.Errorf("job = %s after %d PUT attempts; want succeeded on the second", j.State, w.fleet.Calls("BeginCreateOrUpdate"))
	}
	w.checkNothingPending()
}

// TestPUTKeepsFailingFailsTheJob: every try of the PUT counts against the
// step's retries, although the job claims the update again before each.
func TestPUTKeepsFailingFailsTheJob(t *testing.T) {
	w := remediationWorld(t, enforce)
	w.fleet.FailNext("BeginCreateOrUpdate", 100, 503, "ServiceUnavailable", 0)
	w.tag("approved", dana)
	w.pump(t0.Add(24 * time.Hour))
	j := w.job()
	if j.State != guard.JobFailed || !strings.Contains(j.Error, "ServiceUnavailable") {
		t.Errorf("job = %s %q (error %q), want failed with the ARM error kept", j.State, j.Outcome, j.Error)
	}
	if n := w.fleet.Calls("BeginCreateOrUpdate"); n != 9 {
		t.Errorf("PUTs = %d, want 9: the first try and 8 retries", n)
	}
	if !strings.Contains(j.Outcome, "approve again") {
		t.Errorf("outcome = %q, want it to say a new approval sends it again", j.Outcome)
	}
	w.checkNothingPending()
}

// TestPlanningReadsMaintenanceOnce: the invocation that plans a job and
// checks its window reads the maintenance configurations once.
func TestPlanningReadsMaintenanceOnce(t *testing.T) {
	w := remediationWorld(t, enforce)
	closedWindow(w)
	const list = "MaintenanceConfigurationsClient.NewListByManagedClusterPager"
	before := w.fleet.Calls(list)
	w.tag("approved", dana)
	w.pump(w.clock())
	if j := w.job(); j.State != guard.JobWaitingWindow {
		t.Fatalf("job = %s %q, want waiting for the window", j.State, j.Outcome)
	}
	if n := w.fleet.Calls(list) - before; n != 1 {
		t.Errorf("maintenance configuration reads = %d, want 1", n)
	}
}

func TestLROFailureFailsTheJob(t *testing.T) {
	w := remediationWorld(t, enforce)
	w.fleet.FailUpdate(1, 400, "PropertyChangeNotAllowed")
	w.tag("approved", dana)
	w.pump(t0.Add(time.Hour))
	j := w.job()
	if j.State != guard.JobFailed || !strings.Contains(j.Error, "PropertyChangeNotAllowed") {
		t.Errorf("job = %s, error %q; want failed with the ARM error kept", j.State, j.Error)
	}
	// The operation ran and failed: the cluster may have changed, so the
	// alert is the urgent one.
	if !slices.Contains(w.alertTypes(), "remediation.needs-attention") {
		t.Errorf("alerts = %q, want remediation.needs-attention", w.alertTypes())
	}
	w.checkRecorded(guard.JobFailed, guard.FindingOpen)
}

func TestLROResumedFromTheStoredToken(t *testing.T) {
	w := remediationWorld(t, enforce)
	w.fleet.SetUpdatePolls(4)
	w.tag("approved", dana)
	outs := w.pump(w.clock())
	j := w.job()
	if j.State != guard.JobUpdating || j.ResumeToken == "" {
		t.Fatalf("after the first invocation: job = %s, token %q (outcomes %+v); want updating with a stored token", j.State, j.ResumeToken, outs)
	}
	w.pump(t0.Add(time.Hour))
	if j := w.job(); j.State != guard.JobSucceeded || j.ResumeToken != "" {
		t.Errorf("job = %s, token %q; want succeeded, the token cleared", j.State, j.ResumeToken)
	}
	if n := w.fleet.Calls("BeginCreateOrUpdate"); n != 1 {
		t.Errorf("PUTs = %d, want 1: later invocations resume polling", n)
	}
	w.checkRecorded(guard.JobSucceeded, guard.FindingResolved)
}

func TestPrincipalNotFoundThenSuccess(t *testing.T) {
	w := remediationWorld(t, enforce)
	w.rbac.FailNext("Create", 1, 400, "PrincipalNotFound")
	w.tag("approved", dana)
	w.pump(w.clock())
	j := w.job()
	if j.State != guard.JobRegranting || !strings.Contains(j.Error, "PrincipalNotFound") {
		t.Fatalf("job = %s, error %q; want re-granting, retrying after PrincipalNotFound", j.State, j.Error)
	}
	w.pump(t0.Add(time.Hour))
	w.checkRecorded(guard.JobSucceeded, guard.FindingResolved)
}

// TestExistingRoleAssignmentCountsAsDone: the cluster's future identity
// already holds the control-plane grant, under a name the guard did not
// choose (granted by hand). ARM answers 409 RoleAssignmentExists; the grant
// counts as done, with no retry and no second assignment.
func TestExistingRoleAssignmentCountsAsDone(t *testing.T) {
	w := remediationWorld(t, enforce)
	principal := azurefake.SystemAssignedPrincipal(id(t, spID))
	handMade := guard.RoleAssignment{ID: vnet + "/providers/Microsoft.Authorization/roleAssignments/0b7c3a4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d",
		RoleDefinitionID: networkRole, PrincipalID: principal, PrincipalType: "ServicePrincipal"}
	w.rbac.Add(handMade)
	w.set(t0.Add(2 * time.Minute))
	w.tag("approved", dana)

	w.pump(t0.Add(time.Hour))
	if j := w.job(); j.State != guard.JobSucceeded || j.Attempts != 0 {
		t.Errorf("job = %s %q, attempts %d; want succeeded without a retry", j.State, j.Outcome, j.Attempts)
	}
	if n := w.rbac.Calls("Create"); n != 2 {
		t.Errorf("role assignment creates = %d, want 2 (one per planned grant, the existing one answered 409 once)", n)
	}
	var held []string
	for _, a := range w.rbac.Assignments() {
		if a.PrincipalID == principal {
			held = append(held, a.ID)
		}
	}
	if len(held) != 1 || !strings.EqualFold(held[0], handMade.ID) {
		t.Errorf("control-plane identity's assignments = %q, want only the hand-made %s", held, handMade.ID)
	}
	w.checkRecorded(guard.JobSucceeded, guard.FindingResolved)
}

// approvedJobMessage plans an approved job and holds its next update wake-up
// (the window opens in an hour), returning that message. Other messages
// due then (the job's stale timers) are taken off the queue unhandled: the
// job would drop them as stale.
func approvedJobMessage(t *testing.T, w *world) guard.Message {
	t.Helper()
	w.fleet.SetMaintenanceConfigs(spID, []armcontainerservice.MaintenanceConfiguration{{
		Name: to.Ptr("default"),
		Properties: &armcontainerservice.MaintenanceConfigurationProperties{
			TimeInWeek: []*armcontainerservice.TimeInWeek{{Day: to.Ptr(armcontainerservice.WeekDayFriday), HourSlots: []*int32{to.Ptr[int32](10), to.Ptr[int32](11)}}},
		},
	}})
	w.tag("approved", dana)
	w.pump(w.clock())
	j := w.job()
	if j.State != guard.JobWaitingWindow {
		t.Fatalf("job = %s, want waiting for the window", j.State)
	}
	w.set(j.NextWake)
	for _, m := range w.queue.Due(j.NextWake) {
		if m.Seq == j.WakeSeq {
			return m
		}
	}
	t.Fatalf("no wake-up with the job's timer %d is queued", j.WakeSeq)
	return guard.Message{}
}

func TestTenDuplicateWakeupsOnePUT(t *testing.T) {
	w := remediationWorld(t, enforce)
	m := approvedJobMessage(t, w)
	for range 10 {
		if _, err := w.svc.HandleMessage(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	w.pump(w.clock().Add(time.Hour))
	if n := w.fleet.Calls("BeginCreateOrUpdate"); n != 1 {
		t.Errorf("PUTs = %d, want 1", n)
	}
	w.checkRecorded(guard.JobSucceeded, guard.FindingResolved)
}

func TestTwoWorkersRaceOnePUT(t *testing.T) {
	w := remediationWorld(t, enforce)
	m := approvedJobMessage(t, w)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := w.svc.HandleMessage(context.Background(), m); err != nil {
				t.Errorf("HandleMessage() = %v", err)
			}
		}()
	}
	wg.Wait()
	w.pump(w.clock().Add(time.Hour))
	if n := w.fleet.Calls("BeginCreateOrUpdate"); n != 1 {
		t.Errorf("PUTs = %d, want 1", n)
	}
	if j := w.job(); j.State != guard.JobSucceeded {
		w.dumpAudit()
		t.Errorf("job = %s %q", j.State, j.Outcome)
	}
	w.checkNothingPending()
}

func TestGraphForbiddenBlocks(t *testing.T) {
	w := remediationWorld(t, enforce)
	w.tag("approved", dana)
	w.graph.FailNext(1, 403, "Authorization_RequestDenied") // the plan's look-up of the service principal
	w.pump(t0.Add(time.Hour))
	j := w.job()
	if j.State != guard.JobBlocked || !strings.Contains(j.Outcome, "Application.Read.All") {
		t.Errorf("job = %s %q; want blocked naming the Graph permission", j.State, j.Outcome)
	}
	if n := w.fleet.Calls("BeginCreateOrUpdate"); n != 0 {
		t.Errorf("PUTs = %d, want none: never run blind", n)
	}
	if !slices.Contains(w.alertTypes(), "remediation.blocked") {
		t.Errorf("alerts = %q", w.alertTypes())
	}
	// The permission granted, Dana approves again: a new job runs.
	w.tag("", dana)
	w.tag("approved", dana)
	w.pump(t0.Add(2 * time.Hour))
	if j2 := w.job(); j2.ID == j.ID {
		t.Errorf("after re-approval: job %s again; want a new job", j2.ID)
	}
	w.checkRecorded(guard.JobSucceeded, guard.FindingResolved)
}

func TestRoleAssignmentsUnreadableBlocks(t *testing.T) {
	w := remediationWorld(t, enforce)
	w.rbac.FailNext("NewListForScopePager", 1, 403, "AuthorizationFailed")
	w.tag("approved", dana)
	w.pump(t0.Add(time.Hour))
	if j := w.job(); !strings.Contains(j.Outcome, "Microsoft.Authorization/roleAssignments/read") {
		t.Errorf("job outcome %q; want it to name the permission", j.Outcome)
	}
	if n := w.fleet.Calls("BeginCreateOrUpdate"); n != 0 {
		t.Errorf("PUTs = %d, want none: never run blind", n)
	}
	w.checkRecorded(guard.JobBlocked, guard.FindingOpen)
}

func TestExemptTag(t *testing.T) {
	w := remediationWorld(t, enforce)
	if out := w.tag("exempt:lab cluster until Q3", dana); out.Result != guard.ResultExempted {
		t.Fatalf("exempt = %+v", out)
	}
	w.pump(t0.Add(time.Hour))
	if f := w.finding(); f.State != guard.FindingExempt || f.Resolution != "exempt: lab cluster until Q3" {
		t.Errorf("finding = %s %q", f.State, f.Resolution)
	}
	if j := w.job(); j.State != guard.JobCancelled {
		t.Errorf("job = %s, want cancelled by the exemption", j.State)
	}
	n := len(w.alerts.Published())
	w.set(t0.Add(2 * time.Hour))
	if _, err := w.svc.HandleEvent(t.Context(), write(t, spID, "later", w.clock())); err != nil {
		t.Fatal(err)
	}
	if len(w.alerts.Published()) != n {
		t.Errorf("an exempt cluster raised alerts: %q", w.alertTypes()[n:])
	}
}

func TestCustomPrivateDNSZone(t *testing.T) {
	const uai = "/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourceGroups/rg-identity/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-aks-cp"
	const zone = sub + "/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/privatelink.westus.azmk8s.io"
	setZone := func(w *world) {
		mc, _ := w.fleet.Cluster(spID)
		mc.Properties.APIServerAccessProfile = &armcontainerservice.ManagedClusterAPIServerAccessProfile{
			EnablePrivateCluster: to.Ptr(true),
			PrivateDNSZone:       to.Ptr(zone),
		}
		w.fleet.Put(mc)
	}
	t.Run("no user-assigned identity: blocked", func(t *testing.T) {
		w := remediationWorld(t, enforce)
		setZone(w)
		w.tag("approved", dana)
		w.pump(t0.Add(time.Hour))
		if j := w.job(); j.State != guard.JobBlocked || !strings.Contains(j.Outcome, "private DNS zone") || !strings.Contains(j.Outcome, "user-assigned") {
			t.Errorf("job = %s %q", j.State, j.Outcome)
		}
		if n := w.fleet.Calls("BeginCreateOrUpdate"); n != 0 {
			t.Errorf("PUTs = %d, want none: never a half migration", n)
		}
	})
	t.Run("configured identity: roles first, then the update", func(t *testing.T) {
		w := remediationWorld(t, enforce, func(c *guard.Config) { c.UserAssignedIdentity = uai })
		w.graph.AddManagedIdentity(uai, guard.Principal{AppID: "aaaa1111-2222-3333-4444-555566667777", ObjectID: "bbbb1111-2222-3333-4444-555566667777"})
		// Microsoft's docs: the identity manages the zone.
		w.rbac.Add(guard.RoleAssignment{Scope: zone, RoleDefinitionID: "/providers/Microsoft.Authorization/roleDefinitions/b12aa53e-6015-4669-85d0-8515ebb3ae7f",
			PrincipalID: "bbbb1111-2222-3333-4444-555566667777", PrincipalType: "ServicePrincipal"})
		setZone(w)
		w.tag("approved", dana)
		w.pump(w.clock())
		j := w.job()
		if j.State != guard.JobUpdating || w.fleet.Calls("BeginCreateOrUpdate") != 0 || w.rbac.Calls("Create") != 1 {
			t.Fatalf("job = %s, %d PUTs, %d grants; want roles granted to the identity and the update waiting for them to propagate",
				j.State, w.fleet.Calls("BeginCreateOrUpdate"), w.rbac.Calls("Create"))
		}
		w.pump(t0.Add(time.Hour))
		j = w.job()
		mc, _ := w.fleet.Cluster(spID)
		if j.State != guard.JobSucceeded || *mc.Identity.Type != armcontainerservice.ResourceIdentityTypeUserAssigned {
			t.Errorf("job = %s %q, identity %v; want succeeded with the user-assigned identity", j.State, j.Outcome, *mc.Identity.Type)
		}
	})
}

func TestCapOnClustersUpdating(t *testing.T) {
	w := remediationWorld(t, enforce, func(c *guard.Config) { c.MaxUpdating = 1 })
	// Another job is updating.
	other := guard.Job{Cluster: id(t, msiID), ID: "other", State: guard.JobUpdating}
	if err := w.store.SaveJob(t.Context(), &other); err != nil {
		t.Fatal(err)
	}
	w.tag("approved", dana)
	w.pump(w.clock())
	j := w.job()
	if j.State != guard.JobPlanned || !strings.Contains(j.Outcome, "waiting for an update slot") {
		t.Fatalf("job = %s %q; want waiting for a slot", j.State, j.Outcome)
	}
	other.State = guard.JobSucceeded
	if err := w.store.SaveJob(t.Context(), &other); err != nil {
		t.Fatal(err)
	}
	w.pump(t0.Add(time.Hour))
	if j := w.job(); j.State != guard.JobSucceeded {
		t.Errorf("job = %s once the slot freed", j.State)
	}
}

func (w *world) dumpAudit() {
	for _, e := range w.audit(spID) {
		w.t.Logf("%s %s %s %s", e.At.Format("15:04:05"), e.Action, e.Cause, e.Detail)
	}
}
