package guard_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"

	"github.com/aksguard/aksguard/pkg/azurefake"
	"github.com/aksguard/aksguard/pkg/guard"
)

// The rules of the documented migration procedure (Microsoft Learn "Use a
// managed identity in AKS", the Azure CLI's acs module), each held here.

const (
	roleDefs      = sub + "/providers/Microsoft.Authorization/roleDefinitions/"
	workspace     = sub + "/resourceGroups/rg-logs/providers/Microsoft.OperationalInsights/workspaces/logs"
	appGateway    = sub + "/resourceGroups/rg-ingress/providers/Microsoft.Network/applicationGateways/agw"
	appGWSubnet   = sub + "/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-1/subnets/agw"
	nodeSubnet    = sub + "/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-1/subnets/nodes"
	controlPlaneI = sub + "/resourceGroups/rg-identity/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-aks-cp"
	cpObjectID    = "bbbb1111-2222-3333-4444-555566667777"
)

// withAddons enables monitoring and application gateway ingress on the SP
// cluster, as a cluster created with them shows.
func withAddons(w *world) {
	mc, _ := w.fleet.Cluster(spID)
	mc.Properties.AddonProfiles = map[string]*armcontainerservice.ManagedClusterAddonProfile{
		"omsagent": {Enabled: to.Ptr(true), Config: map[string]*string{"logAnalyticsWorkspaceResourceID": to.Ptr(workspace)}},
		"ingressApplicationGateway": {Enabled: to.Ptr(true), Config: map[string]*string{
			"applicationGatewayId": to.Ptr(appGateway), "subnetId": to.Ptr(appGWSubnet)}},
		"azurepolicy": {Enabled: to.Ptr(false)},
	}
	w.fleet.Put(mc)
}

// grantsTo lists the role assignments made, as "role scope" per principal.
func (w *world) grantsTo(principal string) []string {
	var out []string
	for _, a := range w.rbac.Created() {
		if strings.EqualFold(a.PrincipalID, principal) {
			out = append(out, guard.RoleName(a.RoleDefinitionID)+" "+a.Scope)
		}
	}
	slices.Sort(out)
	return out
}

// TestAddonIdentitiesGetTheirRoles: after the update the monitoring and
// application gateway add-ons' own identities get what az aks update's
// post-processing grants them, and the service principal's matching
// assignment is theirs, not the control plane's.
func TestAddonIdentitiesGetTheirRoles(t *testing.T) {
	w := spWorld(t, func(w *world) { w.fleet.SetKubeletAtUpdate(true); withAddons(w) }, enforce)
	w.rbac.Add(guard.RoleAssignment{Scope: spID, RoleDefinitionID: roleDefs + "3913510d-42f4-4e42-8a64-420c390055eb", PrincipalID: spObjectID, PrincipalType: "ServicePrincipal"})
	w.tag("approved", dana)
	w.pump(t0.Add(24 * time.Hour))
	j := w.job()
	if j.State != guard.JobSucceeded {
		t.Fatalf("job = %s %q, want succeeded", j.State, j.Outcome)
	}
	nodeRG := "MC_rg-4149_manCluster-5614_westus"
	oms := azurefake.AddonPrincipal(id(t, spID), nodeRG, "omsagent")
	agw := azurefake.AddonPrincipal(id(t, spID), nodeRG, "ingressApplicationGateway")
	if got := w.grantsTo(oms); !slices.Equal(got, []string{"Monitoring Metrics Publisher " + id(t, spID).String()}) {
		t.Errorf("omsagent identity got %q, want Monitoring Metrics Publisher on the cluster", got)
	}
	if got := w.grantsTo(agw); !slices.Equal(got, []string{"Contributor " + sub + "/resourceGroups/rg-ingress", "Network Contributor " + appGWSubnet}) {
		t.Errorf("application gateway identity got %q, want Contributor on the gateway's resource group and Network Contributor on its subnet", got)
	}
	if got := w.grantsTo(azurefake.SystemAssignedPrincipal(id(t, spID))); slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, "Monitoring") }) {
		t.Errorf("control plane got %q; the metrics role is the monitoring add-on's", got)
	}
}

// TestRegistryRolesGoToKubeletAtAnyScope: image pulls are the nodes', so
// AcrPull at a resource group and a custom role naming the pull action go
// to the kubelet identity; Contributor, which also allows pulls, stays
// with the control plane and the plan says the kubelet gets no such role.
func TestRegistryRolesGoToKubeletAtAnyScope(t *testing.T) {
	w := remediationWorld(t, enforce)
	rg := sub + "/resourceGroups/rg-shared"
	const custom = "0c0ffee0-0000-4000-8000-00000000c0de"
	w.rbac.AddRoleDefinition(guard.RoleDefinition{ID: roleDefs + custom, Name: "Image Reader",
		Permissions: []guard.PermissionSet{{Actions: []string{"Microsoft.ContainerRegistry/registries/pull/read", "Microsoft.ContainerRegistry/registries/read"}}}})
	w.rbac.Add(guard.RoleAssignment{Scope: rg, RoleDefinitionID: acrPullRole, PrincipalID: spObjectID, PrincipalType: "ServicePrincipal"})
	w.rbac.Add(guard.RoleAssignment{Scope: sub + "/resourceGroups/rg-other", RoleDefinitionID: roleDefs + custom, PrincipalID: spObjectID, PrincipalType: "ServicePrincipal"})
	w.rbac.Add(guard.RoleAssignment{Scope: sub + "/resourceGroups/rg-apps", RoleDefinitionID: roleDefs + "b24988ac-6180-42a0-ab88-20f7382dd24c", PrincipalID: spObjectID, PrincipalType: "ServicePrincipal"})
	w.tag("approved", dana)
	w.pump(t0.Add(24 * time.Hour))
	j := w.job()
	if j.State != guard.JobSucceeded {
		t.Fatalf("job = %s %q", j.State, j.Outcome)
	}
	var kubelet []string
	for _, a := range j.Plan.Kubelet {
		kubelet = append(kubelet, a.Scope)
	}
	slices.Sort(kubelet)
	if want := []string{sub + "/resourceGroups/rg-other", rg, acr}; !slices.Equal(kubelet, want) {
		t.Errorf("kubelet grants on %q, want %q", kubelet, want)
	}
	if !slices.ContainsFunc(j.Plan.Warnings, func(s string) bool { return strings.Contains(s, "also lets nodes pull images") }) {
		t.Errorf("plan warnings %q say nothing of Contributor's pulls", j.Plan.Warnings)
	}
}

// byoNetwork puts the SP cluster's pool on a subnet of its own network,
// outside the node resource group.
func byoNetwork(w *world) {
	mc, _ := w.fleet.Cluster(spID)
	mc.Properties.AgentPoolProfiles[0].VnetSubnetID = to.Ptr(nodeSubnet)
	w.fleet.Put(mc)
}

// TestOwnNetworkNeedsAUserAssignedIdentity: a system-assigned identity
// cannot be granted the subnet before the update, so the job blocks
// without one; given one that may use the subnet, it migrates.
func TestOwnNetworkNeedsAUserAssignedIdentity(t *testing.T) {
	t.Run("none", func(t *testing.T) {
		w := spWorld(t, byoNetwork, enforce)
		w.tag("approved", dana)
		w.pump(t0.Add(24 * time.Hour))
		if j := w.job(); j.State != guard.JobBlocked || !strings.Contains(j.Outcome, nodeSubnet) || !strings.Contains(j.Outcome, "user-assigned") || w.puts() != 0 {
			t.Errorf("job = %s %q after %d PUTs; want blocked before any change, naming the subnet", j.State, j.Outcome, w.puts())
		}
	})
	t.Run("one allowed the subnet", func(t *testing.T) {
		w := spWorld(t, func(w *world) { byoNetwork(w); w.fleet.SetKubeletAtUpdate(true) }, enforce, func(c *guard.Config) { c.UserAssignedIdentity = controlPlaneI })
		w.graph.AddManagedIdentity(controlPlaneI, guard.Principal{AppID: "aaaa1111-2222-3333-4444-555566667777", ObjectID: cpObjectID})
		// The service principal's Network Contributor on the vnet goes to
		// the identity ahead of the update: that allows the subnet.
		w.tag("approved", dana)
		w.pump(t0.Add(24 * time.Hour))
		if j := w.job(); j.State != guard.JobSucceeded || w.puts() != 1 {
			t.Errorf("job = %s %q after %d PUTs; want succeeded", j.State, j.Outcome, w.puts())
		}
	})
}

// guardRoles gives the guard's identity exactly these roles, as a
// deployment that grants the least it needs does.
func guardRoles(w *world, roles map[string]string) {
	w.rbac.SetGuard(guardObjectID)
	for scope, role := range roles {
		w.rbac.Add(guard.RoleAssignment{Scope: scope, RoleDefinitionID: roleDefs + guard.BuiltinRoleID(role), PrincipalID: guardObjectID, PrincipalType: "ServicePrincipal"})
	}
}

const guardObjectID = "c0ffee00-1d2e-4f3a-8b9c-0d1e2f3a4b5c"

// TestPreflightBlocksBeforeAnyChange: the guard may write the cluster but
// not join its pool's subnet, which the update's linked authorization
// checks: the job blocks naming the action and the subnet, nothing is
// granted or sent. Granted the role, the job goes on.
func TestPreflightBlocksBeforeAnyChange(t *testing.T) {
	w := spWorld(t, func(w *world) { byoNetwork(w); w.fleet.SetKubeletAtUpdate(true) }, enforce, func(c *guard.Config) { c.UserAssignedIdentity = controlPlaneI })
	w.graph.AddManagedIdentity(controlPlaneI, guard.Principal{AppID: "aaaa1111-2222-3333-4444-555566667777", ObjectID: cpObjectID})
	guardRoles(w, map[string]string{
		sub + "/resourceGroups/rg-4149":     "Azure Kubernetes Service Contributor Role",
		sub:                                 "Role Based Access Control Administrator",
		controlPlaneI:                       "Managed Identity Operator",
		sub + "/resourceGroups/rg-identity": "Reader",
	})
	w.tag("approved", dana)
	w.pump(t0.Add(24 * time.Hour))
	j := w.job()
	if j.State != guard.JobBlocked || !strings.Contains(j.Outcome, "Microsoft.Network/virtualNetworks/subnets/join/action on "+nodeSubnet) ||
		w.puts() != 0 || len(w.rbac.Created()) != 0 {
		t.Fatalf("job = %s %q, %d PUTs, %d grants; want blocked naming the subnet's join action, nothing changed", j.State, j.Outcome, w.puts(), len(w.rbac.Created()))
	}
	guardRoles(w, map[string]string{sub + "/resourceGroups/rg-network": "Network Contributor"})
	w.set(w.clock().Add(time.Minute))
	w.tag("", dana)
	w.set(w.clock().Add(time.Minute))
	w.tag("approved", dana)
	w.pump(w.clock().Add(24 * time.Hour))
	if j := w.job(); j.State != guard.JobSucceeded || w.puts() != 1 {
		t.Errorf("job after the grant = %s %q, %d PUTs; want succeeded with one", j.State, j.Outcome, w.puts())
	}
}

// TestPreflightAgainBeforeTheUpdate: a permission taken away between the
// plan and the update blocks the job at the claim, before any change.
func TestPreflightAgainBeforeTheUpdate(t *testing.T) {
	w := remediationWorld(t, enforce)
	closedWindow(w)
	w.tag("approved", dana)
	w.pump(t0.Add(time.Hour))
	if j := w.job(); j.State != guard.JobWaitingWindow {
		t.Fatalf("job = %s %q, want waiting for the window", j.State, j.Outcome)
	}
	guardRoles(w, map[string]string{sub: "Reader"})
	w.pump(t0.Add(7 * 24 * time.Hour))
	if j := w.job(); j.State != guard.JobBlocked || !strings.Contains(j.Outcome, "Microsoft.ContainerService/managedClusters/write") || w.puts() != 0 {
		t.Errorf("job = %s %q after %d PUTs; want blocked at the claim naming the write", j.State, j.Outcome, w.puts())
	}
}

// TestLinkedAuthorizationRefusesThePUT holds the simulator to ARM: a PUT
// that references a subnet its caller may not join is refused with 403
// LinkedAuthorizationFailed, whatever the guard checked before.
func TestLinkedAuthorizationRefusesThePUT(t *testing.T) {
	w := spWorld(t, byoNetwork)
	guardRoles(w, map[string]string{sub + "/resourceGroups/rg-4149": "Azure Kubernetes Service Contributor Role"})
	mc, _ := w.fleet.Cluster(spID)
	_, err := w.fleet.Client().StartIdentityUpdate(t.Context(), id(t, spID), guard.IdentityUpdate{ETag: *mc.ETag, Target: guard.IdentityTarget{Type: "SystemAssigned"}}, time.Second)
	if guard.KindOf(err) != guard.KindForbidden || !strings.Contains(err.Error(), "LinkedAuthorizationFailed") || !strings.Contains(err.Error(), "subnets/join/action") {
		t.Errorf("update = %v, want 403 LinkedAuthorizationFailed naming the subnet's join action", err)
	}
}
