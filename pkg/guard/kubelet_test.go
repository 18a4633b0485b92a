package guard_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"

	"github.com/aksguard/aksguard/pkg/guard"
)

func nodeImages(m guard.NodeImageUpgrade) func(*guard.Config) {
	return func(c *guard.Config) { c.NodeImages = m }
}

// clientIDBehaviours are the two ways AKS may show clientId after the
// update; Microsoft documents neither, so every kubelet test runs both.
var clientIDBehaviours = []struct {
	name  string
	until bool
}{{"clientId msi at the update", false}, {"clientId kept until kubelet moves", true}}

// kubeletWorld is a flagged SP cluster with two pools, system and user,
// whose kubelet moves with each pool's node image upgrade.
func kubeletWorld(t *testing.T, clientIDUntilKubelet bool, opts ...func(*guard.Config)) *world {
	t.Helper()
	return spWorld(t, func(w *world) {
		w.fleet.SetClientIDUntilKubelet(clientIDUntilKubelet)
		mc, _ := w.fleet.Cluster(spID)
		first := mc.Properties.AgentPoolProfiles[0]
		first.Name = to.Ptr("system")
		user := *first
		user.Name, user.NodeImageVersion = to.Ptr("user"), to.Ptr("AKSUbuntu-2204gen2containerd-202609.15.0")
		user.Mode = to.Ptr(armcontainerservice.AgentPoolModeUser)
		mc.Properties.AgentPoolProfiles = append(mc.Properties.AgentPoolProfiles, &user)
		w.fleet.Put(mc)
	}, append([]func(*guard.Config){enforce}, opts...)...)
}

// upgradeByHand runs a pool's node image upgrade as a person does and
// delivers the agent-pool event ARM sends for it.
func (w *world) upgradeByHand(pool string) {
	w.t.Helper()
	if !w.fleet.UpgradeNodeImageAs(id(w.t, spID), pool, caller(dana)) {
		w.t.Fatalf("no pool %s", pool)
	}
	ev := write(w.t, spID, "upgrade-"+pool+"-"+w.clock().Format("150405"), w.clock())
	ev.Operation = opPoolWrite
	if _, err := w.svc.HandleEvent(w.t.Context(), ev); err != nil {
		w.t.Fatal(err)
	}
	w.pump(w.clock().Add(5 * time.Minute))
}

// TestKubeletPendingWhenSkipped holds the kubelet rule with the default
// AKSGUARD_NODE_IMAGE_UPGRADE=skip: the job ends kubelet-pending naming
// each pool and its command, never "succeeded" while kubelet uses the
// service principal, and the finding is resolved only once every pool had
// its node image upgraded.
func TestKubeletPendingWhenSkipped(t *testing.T) {
	for _, b := range clientIDBehaviours {
		t.Run(b.name, func(t *testing.T) {
			w := kubeletWorld(t, b.until)
			w.tag("approved", dana)
			w.pump(t0.Add(24 * time.Hour))
			j := w.job()
			for _, want := range []string{"kubelet still uses service principal " + spAppID, "pool(s) system, user",
				"--name system --node-image-only", "--name user --node-image-only", "keep service principal"} {
				if !strings.Contains(j.Outcome, want) {
					t.Errorf("job outcome %q does not say %q", j.Outcome, want)
				}
			}
			if j.State != guard.JobKubeletPending || w.puts() != 1 || w.fleet.NodeImageUpgrades(id(t, spID)) != 0 {
				t.Errorf("job = %s after %d PUTs and %d node image upgrades; want kubelet-pending after one PUT and none", j.State, w.puts(), w.fleet.NodeImageUpgrades(id(t, spID)))
			}
			if f := w.finding(); f.State != guard.FindingKubeletPending || !slices.Contains(w.alertTypes(), "remediation.kubelet-pending") {
				t.Errorf("finding = %s, alerts %v; want kubelet-pending with its alert", f.State, w.alertTypes())
			}
			w.upgradeByHand("system")
			if f := w.finding(); f.State != guard.FindingKubeletPending {
				t.Errorf("finding after one pool = %s, want still kubelet-pending: user runs on the service principal", f.State)
			}
			w.upgradeByHand("user")
			if f := w.finding(); f.State != guard.FindingResolved || len(w.fleet.KubeletOnServicePrincipal(id(t, spID))) != 0 {
				t.Errorf("finding after both pools = %s %q, kubelet on the SP on %v; want resolved", f.State, f.Resolution, w.fleet.KubeletOnServicePrincipal(id(t, spID)))
			}
		})
	}
}

// TestNodeImageUpgradesEnforced: with enforce the job upgrades each pool's
// node image, one at a time; a pool with no newer image is reported, not
// retried, and the job ends kubelet-pending naming it; approved again once
// a newer image is out, it finishes and succeeds.
func TestNodeImageUpgradesEnforced(t *testing.T) {
	for _, b := range clientIDBehaviours {
		t.Run(b.name, func(t *testing.T) {
			w := kubeletWorld(t, b.until, nodeImages(guard.NodeImagesEnforce))
			cluster := id(t, spID)
			w.fleet.SetLatestNodeImage(cluster, "user", "AKSUbuntu-2204gen2containerd-202609.15.0") // what it runs
			w.tag("approved", dana)
			w.pump(t0.Add(24 * time.Hour))
			j := w.job()
			if j.State != guard.JobKubeletPending || !strings.Contains(j.Outcome, "pool(s) user already run the latest node image") ||
				w.fleet.NodeImageUpgrades(cluster) != 1 || !slices.Equal(w.fleet.KubeletOnServicePrincipal(cluster), []string{"user"}) {
				t.Fatalf("job = %s %q after %d node image upgrades, kubelet on the SP on %v; want kubelet-pending on user after upgrading system",
					j.State, j.Outcome, w.fleet.NodeImageUpgrades(cluster), w.fleet.KubeletOnServicePrincipal(cluster))
			}
			if f := w.finding(); f.State != guard.FindingKubeletPending {
				t.Errorf("finding = %s, want kubelet-pending", f.State)
			}
			w.fleet.SetLatestNodeImage(cluster, "user", "AKSUbuntu-2204gen2containerd-202610.01.0")
			w.set(w.clock().Add(time.Minute))
			w.tag("", dana)
			w.set(w.clock().Add(time.Minute))
			w.tag("approved", dana)
			w.pump(w.clock().Add(24 * time.Hour))
			j = w.job()
			if j.State != guard.JobSucceeded || w.fleet.NodeImageUpgrades(cluster) != 2 || w.puts() != 1 || !strings.Contains(j.Outcome, "az ad sp delete --id "+spAppID) {
				t.Errorf("job after a new image = %s %q, %d node image upgrades, %d PUTs; want succeeded, 2, 1", j.State, j.Outcome, w.fleet.NodeImageUpgrades(cluster), w.puts())
			}
			if f := w.finding(); f.State != guard.FindingResolved {
				t.Errorf("finding = %s %q, want resolved", f.State, f.Resolution)
			}
		})
	}
}

// poolHook calls after once a pool's node image upgrade returned.
type poolHook struct {
	guard.Clusters
	after func(pool string)
}

func (h *poolHook) StartNodeImageUpgrade(ctx context.Context, id guard.ClusterID, pool string, wait time.Duration) (guard.UpdateStatus, error) {
	st, err := h.Clusters.StartNodeImageUpgrade(ctx, id, pool, wait)
	if h.after != nil {
		h.after(pool)
	}
	return st, err
}

// TestNodeImageUpgradesStopWithTheApproval: each upgrade reimages a pool,
// so the approval is checked on a fresh read before each; removed after
// the first pool, no other pool is touched.
func TestNodeImageUpgradesStopWithTheApproval(t *testing.T) {
	hook := &poolHook{}
	w := kubeletWorld(t, false, nodeImages(guard.NodeImagesEnforce), func(c *guard.Config) { hook.Clusters = c.Clusters; c.Clusters = hook })
	hook.after = func(pool string) {
		hook.after = nil
		w.setTag(guard.ApprovalTag, "", dana, opTags) // no event: only the fresh read sees it
	}
	w.tag("approved", dana)
	w.pump(t0.Add(24 * time.Hour))
	j := w.job()
	if j.State != guard.JobKubeletPending || !strings.Contains(j.Outcome, "node image upgrades stopped: the approval was removed") ||
		w.fleet.NodeImageUpgrades(id(t, spID)) != 1 {
		t.Errorf("job = %s %q after %d node image upgrades; want kubelet-pending, stopped after one", j.State, j.Outcome, w.fleet.NodeImageUpgrades(id(t, spID)))
	}
}

// TestNodeImageUpgradesWaitForTheNodeOSWindow: upgrades run in the node OS
// window (aksManagedNodeOSUpgradeSchedule) when one is configured.
func TestNodeImageUpgradesWaitForTheNodeOSWindow(t *testing.T) {
	w := kubeletWorld(t, false, nodeImages(guard.NodeImagesEnforce))
	w.fleet.SetMaintenanceConfigs(spID, []armcontainerservice.MaintenanceConfiguration{{
		Name: to.Ptr(guard.NodeOSUpgradeSchedule),
		Properties: &armcontainerservice.MaintenanceConfigurationProperties{
			MaintenanceWindow: &armcontainerservice.MaintenanceWindow{DurationHours: to.Ptr[int32](4), StartTime: to.Ptr("22:00"),
				Schedule: &armcontainerservice.Schedule{Daily: &armcontainerservice.DailySchedule{IntervalDays: to.Ptr[int32](1)}}},
		},
	}})
	w.tag("approved", dana)
	w.pump(t0.Add(6 * time.Hour)) // 15:00: the update ran, the node OS window is shut
	if j := w.job(); j.State != guard.JobUpgradingNodeImages || w.fleet.NodeImageUpgrades(id(t, spID)) != 0 || !strings.Contains(j.Outcome, "22:00") {
		t.Fatalf("job at 15:00 = %s %q; want waiting for the node OS window at 22:00 with no upgrade", j.State, j.Outcome)
	}
	w.pump(t0.Add(24 * time.Hour))
	j := w.job()
	if j.State != guard.JobSucceeded || w.fleet.NodeImageUpgrades(id(t, spID)) != 2 {
		t.Errorf("job = %s %q after %d upgrades; want succeeded after two, in the window", j.State, j.Outcome, w.fleet.NodeImageUpgrades(id(t, spID)))
	}
	if h := j.UpdatedAt.Hour(); h < 22 && h >= 2 {
		t.Errorf("job finished at %s, want in the 22:00–02:00 window", j.UpdatedAt)
	}
}

// TestMigratedByHandIsKubeletPending: a migration by hand leaves kubelet
// on the service principal too; the finding says so until the pools move.
func TestMigratedByHandIsKubeletPending(t *testing.T) {
	w := kubeletWorld(t, true)
	mc, _ := w.fleet.Cluster(spID)
	mc.Identity = &armcontainerservice.ManagedClusterIdentity{Type: to.Ptr(armcontainerservice.ResourceIdentityTypeSystemAssigned), PrincipalID: to.Ptr("4b7e2c1d-9a8f-4e6b-b5c3-2d1f0e9a8b7c")}
	w.fleet.Put(mc) // clientId still names the service principal: mixed by verdict
	out, err := w.svc.HandleEvent(t.Context(), write(t, spID, "by-hand", w.clock()))
	if err != nil || out.Result != guard.ResultKubeletPending {
		t.Fatalf("event = %+v, %v; want kubelet-pending", out, err)
	}
	f := w.finding()
	if f.State != guard.FindingKubeletPending || f.Kubelet == nil || len(f.Kubelet.Pools) != 2 || f.SPClientID != spAppID {
		t.Errorf("finding = %s %+v (SP %q); want kubelet-pending with both pools and the service principal", f.State, f.Kubelet, f.SPClientID)
	}
	if !slices.Contains(w.alertTypes(), "cluster.kubelet-pending") {
		t.Errorf("alerts = %v, want %s", w.alertTypes(), guard.AlertClusterKubeletPending)
	}
}

// TestServicePrincipalKeptWhileAnotherClusterUsesIt: the advice to delete
// the service principal comes only when no other cluster in the fleet uses
// it (Azure Resource Graph), in the outcome and the alert's follow-up.
func TestServicePrincipalKeptWhileAnotherClusterUsesIt(t *testing.T) {
	w := remediationWorld(t, enforce)
	other, _ := w.fleet.Cluster(spID)
	other.Name = to.Ptr("shared-sp")
	other.ID = to.Ptr(strings.Replace(spID, "manCluster-5614", "shared-sp", 1))
	w.fleet.Put(other)
	w.tag("approved", dana)
	w.pump(t0.Add(24 * time.Hour))
	j := w.job()
	if j.State != guard.JobSucceeded || !strings.Contains(j.Outcome, "keep service principal "+spAppID) || !strings.Contains(j.Outcome, "shared-sp") ||
		strings.Contains(j.Outcome, "az ad sp delete") {
		t.Errorf("job = %s %q; want succeeded, keeping the service principal shared-sp still uses", j.State, j.Outcome)
	}
	for _, a := range w.alerts.Published() {
		if a.Type == guard.AlertSucceeded && !strings.Contains(a.Data.FollowUp, "shared-sp") {
			t.Errorf("succeeded alert follow-up = %q, want it to name shared-sp", a.Data.FollowUp)
		}
	}
}
