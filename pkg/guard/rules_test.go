package guard_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"

	"github.com/aksguard/aksguard/pkg/azurefake"
	"github.com/aksguard/aksguard/pkg/guard"
)

// The safety rules of the remediation job, each held by a test that fails
// when the rule is broken. The README lists them.

// TestEnforceScopeBoundary: a scope names a subscription or resource group
// whole; /resourceGroups/rg-41 does not cover rg-4149.
func TestEnforceScopeBoundary(t *testing.T) {
	const s = "/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c"
	for _, tt := range []struct {
		scope string
		want  guard.JobState
	}{
		{s + "/resourceGroups/rg-41", guard.JobDryRunComplete},
		{s + "/resourceGroups/rg-4149-x", guard.JobDryRunComplete},
		{s + "/resourceGroups/RG-4149", guard.JobSucceeded},
		{s + "/resourceGroups/rg-4149/", guard.JobSucceeded},
		{s, guard.JobSucceeded},
		{"/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123", guard.JobDryRunComplete},
	} {
		t.Run(tt.scope, func(t *testing.T) {
			w := remediationWorld(t, enforce, func(c *guard.Config) { c.EnforceScopes = []string{tt.scope} })
			w.tag("approved", dana)
			w.pump(t0.Add(time.Hour))
			if j := w.job(); j.State != tt.want {
				t.Errorf("job = %s %q, want %s", j.State, j.Outcome, tt.want)
			}
		})
	}
}

// TestWindowMarginAtTheEnd: an update starts only with at least 30 minutes
// of the window left; with less it waits for the next window.
func TestWindowMarginAtTheEnd(t *testing.T) {
	for _, tt := range []struct {
		name string
		at   time.Time // Friday; the window is 09:00–10:00
		puts int
	}{
		{"31 minutes left", time.Date(2026, 11, 27, 9, 29, 0, 0, time.UTC), 1},
		{"exactly 30 minutes left", time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC), 1},
		{"29 minutes left", time.Date(2026, 11, 27, 9, 31, 0, 0, time.UTC), 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := remediationWorld(t, enforce)
			w.fleet.SetMaintenanceConfigs(spID, []armcontainerservice.MaintenanceConfiguration{{
				Name: to.Ptr("default"),
				Properties: &armcontainerservice.MaintenanceConfigurationProperties{
					TimeInWeek: []*armcontainerservice.TimeInWeek{{Day: to.Ptr(armcontainerservice.WeekDayFriday), HourSlots: []*int32{to.Ptr[int32](9)}}},
				},
			}})
			w.fleet.SetChangeDelay(0)
			w.set(tt.at)
			w.tag("approved", dana)
			w.pump(tt.at.Add(time.Minute))
			if n := w.puts(); n != tt.puts {
				t.Errorf("PUTs = %d, want %d (job %s %q)", n, tt.puts, w.job().State, w.job().Outcome)
			}
			if tt.puts == 0 {
				j := w.job()
				if next := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC); j.State != guard.JobWaitingWindow || !j.NextWake.Equal(next) {
					t.Errorf("job = %s, next wake %v; want waiting for next Friday's window", j.State, j.NextWake)
				}
			}
		})
	}
}

// TestUnreadableMaintenanceConfigurationBlocks: a window the guard cannot
// read is not "any time".
func TestUnreadableMaintenanceConfigurationBlocks(t *testing.T) {
	w := remediationWorld(t, enforce)
	w.fleet.SetMaintenanceConfigs(spID, []armcontainerservice.MaintenanceConfiguration{{
		Name: to.Ptr("aksManagedAutoUpgradeSchedule"),
		Properties: &armcontainerservice.MaintenanceConfigurationProperties{
			MaintenanceWindow: &armcontainerservice.MaintenanceWindow{DurationHours: to.Ptr[int32](4), StartTime: to.Ptr("25:00"),
				Schedule: &armcontainerservice.Schedule{Daily: &armcontainerservice.DailySchedule{IntervalDays: to.Ptr[int32](1)}}},
		},
	}})
	w.tag("approved", dana)
	w.pump(t0.Add(24 * time.Hour))
	j := w.job()
	if j.State != guard.JobBlocked || !strings.Contains(j.Outcome, "maintenance configuration cannot be read") {
		t.Errorf("job = %s %q, want blocked: the window cannot be read", j.State, j.Outcome)
	}
	if n := w.puts(); n != 0 {
		t.Errorf("PUTs = %d, want none", n)
	}
}

// TestMixedClusterIsLeftToAPerson: a cluster first seen with a managed
// identity that still names a service principal is never migrated
// automatically. (One seen on the service principal before is a migration
// whose kubelet has yet to move.)
func TestMixedClusterIsLeftToAPerson(t *testing.T) {
	w := newWorld(t, enforce)
	mc, _ := w.fleet.Cluster(spID)
	mc.Identity = &armcontainerservice.ManagedClusterIdentity{Type: to.Ptr(armcontainerservice.ResourceIdentityTypeSystemAssigned), PrincipalID: to.Ptr("4b7e2c1d-9a8f-4e6b-b5c3-2d1f0e9a8b7c")}
	w.fleet.PutAs(mc, caller(dana), azurefake.Write{})
	if out, err := w.svc.HandleEvent(t.Context(), write(t, spID, "create", t0)); err != nil || out.Result != guard.ResultFlagged {
		t.Fatalf("flag: %+v, %v", out, err)
	}
	w.tag("approved", dana)
	w.pump(t0.Add(time.Hour))
	j := w.job()
	if j.State != guard.JobBlocked || !strings.Contains(j.Outcome, "manual review") {
		t.Errorf("job = %s %q, want blocked for manual review", j.State, j.Outcome)
	}
	if n := w.puts(); n != 0 {
		t.Errorf("PUTs = %d, want none", n)
	}
}

// TestVerifyNeedsTheKubeletIdentity: a cluster whose control plane moved
// but that shows no kubelet identity is not a success.
func TestVerifyNeedsTheKubeletIdentity(t *testing.T) {
	nk := &noKubelet{}
	// No registry role, so that the re-grant does not need the kubelet
	// identity first: verify alone must notice it is missing.
	w := newWorld(t, enforce, func(c *guard.Config) { nk.Clusters = c.Clusters; c.Clusters = nk })
	w.fleet.SetUpdatePolls(0)
	w.graph.Add(guard.Principal{AppID: spAppID, ObjectID: spObjectID, DisplayName: "sp-aks"})
	w.rbac.Add(guard.RoleAssignment{Scope: vnet, RoleDefinitionID: networkRole, PrincipalID: spObjectID, PrincipalType: "ServicePrincipal"})
	if out, err := w.svc.HandleEvent(t.Context(), write(t, spID, "create", t0.Add(-time.Second))); err != nil || out.Result != guard.ResultFlagged {
		t.Fatalf("flag: %+v, %v", out, err)
	}
	w.tag("approved", dana)
	w.pump(t0.Add(6 * time.Hour))
	j := w.job()
	if j.State == guard.JobSucceeded || !strings.Contains(j.Outcome+j.Error, "kubelet identity") {
		t.Errorf("job = %s %q (%s), want it not to succeed without a kubelet identity", j.State, j.Outcome, j.Error)
	}
	if slices.Contains(w.alertTypes(), "remediation.succeeded") {
		t.Errorf("alerts %q include succeeded", w.alertTypes())
	}
}

// noKubelet reads clusters without their kubelet identity.
type noKubelet struct{ guard.Clusters }

func (n *noKubelet) GetCluster(ctx context.Context, id guard.ClusterID) (guard.Cluster, error) {
	c, err := n.Clusters.GetCluster(ctx, id)
	c.Kubelet = nil
	return c, err
}

// TestApprovalCheckedAgainAfterTheGrantAhead: with a user-assigned
// identity the job grants its roles, then waits for them to propagate; an
// approval removed meanwhile stops the job before its PUT, and the roles
// it granted stay on record.
func TestApprovalCheckedAgainAfterTheGrantAhead(t *testing.T) {
	const uai = "/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourceGroups/rg-identity/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-aks-cp"
	w := remediationWorld(t, enforce)
	w.graph.AddManagedIdentity(uai, guard.Principal{AppID: "aaaa1111-2222-3333-4444-555566667777", ObjectID: "bbbb1111-2222-3333-4444-555566667777"})
	w.setTag(guard.IdentityTag, uai, dana, opTags)
	w.fleet.SetChangeDelay(0)
	w.tag("approved", dana)
	w.pump(w.clock())
	if j := w.job(); j.State != guard.JobUpdating || len(j.Granted) != 1 || w.puts() != 0 {
		t.Fatalf("job = %s with %d grants and %d PUTs; want the roles granted, waiting for them to propagate", j.State, len(j.Granted), w.puts())
	}
	w.tag("", dana)
	w.pump(t0.Add(time.Hour))
	j := w.job()
	if j.State != guard.JobCancelled || !strings.Contains(j.Outcome, "already granted") {
		t.Errorf("job = %s %q, want cancelled, naming the grants that stay", j.State, j.Outcome)
	}
	if n := w.puts(); n != 0 {
		t.Errorf("PUTs = %d, want none", n)
	}
}

// TestApprovalRemovedBeforeTheClaim: the step that claims the update
// decides on a read it makes itself; an approval removed after the
// invocation's first read is seen there, and the job never says it
// started.
func TestApprovalRemovedBeforeTheClaim(t *testing.T) {
	rm := &removeOnRead{}
	w := remediationWorld(t, enforce, func(c *guard.Config) { rm.Clusters = c.Clusters; c.Clusters = rm })
	w.fleet.SetChangeDelay(0)
	w.tag("approved", dana)
	rm.arm(w, 2) // the approval wakes the job: its first read, then the claim step's
	w.pump(t0.Add(time.Hour))
	if j := w.job(); j.State != guard.JobCancelled {
		t.Errorf("job = %s %q, want cancelled", j.State, j.Outcome)
	}
	if slices.Contains(w.alertTypes(), "remediation.started") || slices.Contains(w.auditActions(), "job-updating") {
		t.Errorf("alerts %q, audit %q: the job claimed the update after the approval was removed", w.alertTypes(), w.auditActions())
	}
	if n := w.puts(); n != 0 {
		t.Errorf("PUTs = %d, want none", n)
	}
}

// removeOnRead removes the approval tag, as Dana does, right before the
// n-th read after it is armed.
type removeOnRead struct {
	guard.Clusters
	w    *world
	left int
}

func (r *removeOnRead) arm(w *world, n int) { r.w, r.left = w, n }

func (r *removeOnRead) GetCluster(ctx context.Context, id guard.ClusterID) (guard.Cluster, error) {
	if r.left > 0 {
		if r.left--; r.left == 0 {
			r.w.setTag(guard.ApprovalTag, "", dana, opTags) // its event comes later
		}
	}
	return r.Clusters.GetCluster(ctx, id)
}

// TestTooLittleOfTheInvocationLeft: the PUT is not sent with less than a
// minute of the invocation left; the next invocation sends it.
func TestTooLittleOfTheInvocationLeft(t *testing.T) {
	w := remediationWorld(t, enforce)
	m := approvedJobMessage(t, w)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Second)
	defer cancel()
	out, err := w.svc.HandleMessage(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.Detail, "too little of this invocation is left") || w.fleet.Calls("BeginCreateOrUpdate") != 0 {
		t.Fatalf("with 50s left: %+v and %d PUTs; want no PUT, continuing in the next invocation", out, w.fleet.Calls("BeginCreateOrUpdate"))
	}
	if j := w.job(); !j.UpdateStartedAt.IsZero() {
		t.Errorf("job keeps its claim (%v) without sending the PUT; want it released", j.UpdateStartedAt)
	}
	w.pump(w.clock().Add(time.Hour))
	if n := w.puts(); n != 1 {
		t.Errorf("PUTs after the next invocation = %d, want 1", n)
	}
}

// TestUpdateThatNeverEndsFails: an update AKS has not finished after three
// hours fails the job, which a person must look at.
func TestUpdateThatNeverEndsFails(t *testing.T) {
	w := remediationWorld(t, enforce)
	w.fleet.SetUpdatePolls(100000)
	w.fleet.SetUpdateDuration(100 * time.Hour)
	w.tag("approved", dana)
	w.pump(t0.Add(2*time.Hour + 50*time.Minute))
	if j := w.job(); j.State != guard.JobUpdating {
		t.Fatalf("job after 2h50m = %s %q, want still updating", j.State, j.Outcome)
	}
	w.pump(t0.Add(5 * time.Hour))
	j := w.job()
	if j.State != guard.JobFailed || !strings.Contains(j.Outcome, "did not finish the update within 3h") {
		t.Errorf("job = %s %q, want failed after 3h", j.State, j.Outcome)
	}
	if n := w.fleet.Calls("BeginCreateOrUpdate"); n != 1 {
		t.Errorf("PUTs = %d, want 1", n)
	}
}

// TestReplanLimit: a cluster that keeps changing between the plan and the
// PUT is planned again at most three times; then the job fails.
func TestReplanLimit(t *testing.T) {
	w := remediationWorld(t, enforce)
	touchy := &touching{Clusters: w.cfg.Clusters, w: w}
	w.restart(func(c *guard.Config) { c.Clusters = touchy })
	w.tag("approved", dana)
	touchy.armed = true
	w.pump(t0.Add(3 * time.Hour))
	j := w.job()
	if j.State != guard.JobFailed || j.Replans != 3 || !strings.Contains(j.Outcome, "3 times") {
		t.Errorf("job = %s %q after %d re-plans, want failed after 3", j.State, j.Outcome, j.Replans)
	}
	if n := w.puts(); n != 0 {
		t.Errorf("PUTs = %d, want none", n)
	}
}

// touching, once armed, changes a tag of the cluster before every read,
// as a busy platform team might.
type touching struct {
	guard.Clusters
	w     *world
	armed bool
	n     int
}

func (c *touching) GetCluster(ctx context.Context, id guard.ClusterID) (guard.Cluster, error) {
	if c.armed {
		c.n++
		c.w.setTag("touched", strings.Repeat("x", c.n), eve, opClusterWrite)
	}
	return c.Clusters.GetCluster(ctx, id)
}

// TestAlertRefusedForGoodIsDroppedOnRecord: an alert Event Grid refuses
// for good never holds the job up; it is dropped with an audit entry that
// names it.
func TestAlertRefusedForGoodIsDroppedOnRecord(t *testing.T) {
	w := remediationWorld(t, enforce)
	w.restart(func(c *guard.Config) { c.Alerts = w.az.Faults.Alerts(w.alerts) })
	if err := w.az.Faults.Add(azurefake.Alerts, azurefake.Fault{Kind: azurefake.Forbidden, For: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	w.tag("approved", dana)
	w.pump(t0.Add(time.Hour))
	w.checkRecorded(guard.JobSucceeded, guard.FindingResolved)
	dropped := 0
	for _, e := range w.audit(spID) {
		if e.Action == "effect-failed" && strings.HasPrefix(e.Cause, "alert/") {
			dropped++
		}
	}
	if dropped == 0 {
		t.Errorf("audit actions %q, want effect-failed entries for the refused alerts", w.auditActions())
	}
}

// TestVerifyNeedsHealthyPools: verify means healthy, not only migrated: a
// pool whose last operation failed fails the job, named.
func TestVerifyNeedsHealthyPools(t *testing.T) {
	w := remediationWorld(t, enforce)
	mc, _ := w.fleet.Cluster(spID)
	mc.Properties.AgentPoolProfiles[0].ProvisioningState = to.Ptr("Failed")
	w.fleet.Put(mc)
	w.tag("approved", dana)
	w.pump(t0.Add(6 * time.Hour))
	j := w.job()
	pool := *mc.Properties.AgentPoolProfiles[0].Name
	if j.State != guard.JobFailed || !strings.Contains(j.Outcome, "pool "+pool+"'s provisioningState is Failed") || w.puts() != 1 {
		t.Errorf("job = %s %q after %d PUTs; want failed naming pool %s's provisioning state, after the one update", j.State, j.Outcome, w.puts(), pool)
	}
}

// TestRequireWindow: with AKSGUARD_REQUIRE_WINDOW a cluster without a
// planned maintenance configuration is blocked, named, and never updated;
// without it, it is updated at once.
func TestRequireWindow(t *testing.T) {
	for _, require := range []bool{true, false} {
		w := remediationWorld(t, enforce, func(c *guard.Config) { c.RequireWindow = require })
		w.tag("approved", dana)
		w.pump(t0.Add(2 * time.Hour))
		j := w.job()
		blocked := j.State == guard.JobBlocked && strings.Contains(j.Outcome, "no planned maintenance configuration") && w.puts() == 0
		if blocked != require {
			t.Errorf("require window %v: job = %s %q after %d PUTs", require, j.State, j.Outcome, w.puts())
		}
	}
}

// TestVerifyNeedsTheRoles: a grant answered but not made (or removed
// since) keeps the job from succeeding, naming the missing assignment.
func TestVerifyNeedsTheRoles(t *testing.T) {
	w := remediationWorld(t, enforce, func(c *guard.Config) { c.Roles = lyingRoles{c.Roles} })
	w.tag("approved", dana)
	w.pump(t0.Add(6 * time.Hour))
	j := w.job()
	if j.State != guard.JobFailed || !strings.Contains(j.Outcome, "is missing on the control plane identity") || w.puts() != 1 {
		t.Errorf("job = %s %q after %d PUTs; want failed, naming the missing role assignment", j.State, j.Outcome, w.puts())
	}
	if !slices.Contains(w.alertTypes(), "remediation.needs-attention") {
		t.Errorf("alerts %q, want needs-attention: the cluster changed", w.alertTypes())
	}
}

// lyingRoles answers every grant with success and makes none.
type lyingRoles struct{ guard.Roles }

func (lyingRoles) Assign(context.Context, guard.RoleAssignment) error { return nil }
