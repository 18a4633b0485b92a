package azurefake

import (
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/fake/server"

	"github.com/aksguard/aksguard/pkg/guard"
)

// How the RBAC answers what a principal may do.
//
// Role definitions: the built-in roles the guard meets, with the actions
// Microsoft's built-in roles reference lists for them, and any custom role
// added with AddRoleDefinition. RoleDefinitionsClient.GetByID is served
// from them.
//
// The guard's own permissions (PermissionsClient, SetGuard) are the union
// of its role assignments that apply at the scope asked about, as ARM's
// permissions API lists them. A guard that holds no role assignment at all
// may do anything: simulations that do not care about permissions need not
// set any. The fleet checks the same permissions on the resources an
// update references (linked authorization).
const (
	getRoleDefinition    = "RoleDefinitionsClient.GetByID"
	listPermissions      = "PermissionsClient.NewListForResourcePager"
	listGroupPermissions = "PermissionsClient.NewListForResourceGroupPager"
)

// builtinDefinitions are the built-in roles' permissions, by GUID.
var builtinDefinitions = map[string]guard.RoleDefinition{
	"8e3af657-a8ff-443c-a75c-2fe8c4bcb635": {Name: "Owner", Permissions: []guard.PermissionSet{{Actions: []string{"*"}}}},
	"b24988ac-6180-42a0-ab88-20f7382dd24c": {Name: "Contributor", Permissions: []guard.PermissionSet{{Actions: []string{"*"},
		NotActions: []string{"Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write", "Microsoft.Authorization/elevateAccess/Action",
			"Microsoft.Blueprint/blueprintAssignments/write", "Microsoft.Blueprint/blueprintAssignments/delete", "Microsoft.Compute/galleries/share/action"}}}},
	"acdd72a7-3385-48ef-bd42-f606fba81ae7": {Name: "Reader", Permissions: []guard.PermissionSet{{Actions: []string{"*/read"}}}},
	"18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": {Name: "User Access Administrator", Permissions: []guard.PermissionSet{{Actions: []string{"*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"}}}},
	"f58310d9-a9f6-439a-9e8d-f62e7b41a168": {Name: "Role Based Access Control Administrator", Permissions: []guard.PermissionSet{{Actions: []string{
		"Microsoft.Authorization/roleAssignments/write", "Microsoft.Authorization/roleAssignments/delete", "*/read", "Microsoft.Support/*"}}}},
	"4d97b98b-1d4f-4787-a291-c67834d212e7": {Name: "Network Contributor", Permissions: []guard.PermissionSet{{Actions: []string{
		"Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.Network/*", "Microsoft.ResourceHealth/availabilityStatuses/read",
		"Microsoft.Resources/deployments/*", "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Support/*"}}}},
	guard.AcrPullRoleID: {Name: "AcrPull", Permissions: []guard.PermissionSet{{Actions: []string{"Microsoft.ContainerRegistry/registries/pull/read"}}}},
	"8311e382-0749-4cb8-b61a-304f252e45ec": {Name: "AcrPush", Permissions: []guard.PermissionSet{{Actions: []string{
		"Microsoft.ContainerRegistry/registries/pull/read", "Microsoft.ContainerRegistry/registries/push/write"}}}},
	"b12aa53e-6015-4669-85d0-8515ebb3ae7f": {Name: "Private DNS Zone Contributor", Permissions: []guard.PermissionSet{{Actions: []string{
		"Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.Resources/deployments/*", "Microsoft.Resources/subscriptions/resourceGroups/read",
		"Microsoft.Support/*", "Microsoft.Network/privateDnsZones/*", "Microsoft.Network/privateDnsOperationResults/*", "Microsoft.Network/privateDnsOperationStatuses/*",
		"Microsoft.Network/virtualNetworks/read", "Microsoft.Network/virtualNetworks/join/action"}}}},
	"3913510d-42f4-4e42-8a64-420c390055eb": {Name: "Monitoring Metrics Publisher", Permissions: []guard.PermissionSet{{Actions: []string{
		"Microsoft.Insights/Register/Action", "Microsoft.Support/*", "Microsoft.Resources/subscriptions/resourceGroups/read"}}}},
	"f1a07417-d97a-45cb-824c-7a7467783830": {Name: "Managed Identity Operator", Permissions: []guard.PermissionSet{{Actions: []string{
		"Microsoft.ManagedIdentity/userAssignedIdentities/*/read", "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
		"Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.Resources/subscriptions/resourceGroups/read",
		"Microsoft.Resources/deployments/*", "Microsoft.Support/*"}}}},
	"ed7f3fbd-7b88-4dd4-9017-9adb7ce333f8": {Name: "Azure Kubernetes Service Contributor Role", Permissions: []guard.PermissionSet{{Actions: []string{
		"Microsoft.Authorization/*/read", "Microsoft.ContainerService/locations/*", "Microsoft.ContainerService/managedClusters/*",
		"Microsoft.ContainerService/managedclustersnapshots/*", "Microsoft.ContainerService/snapshots/*", "Microsoft.Insights/alertRules/*",
		"Microsoft.Resources/deployments/*", "Microsoft.Resources/subscriptions/resourceGroups/read"}}}},
	"92aaf0da-9dab-42b6-94a3-d43ce8d16293": {Name: "Log Analytics Contributor", Permissions: []guard.PermissionSet{{Actions: []string{
		"*/read", "Microsoft.ClassicCompute/virtualMachines/extensions/*", "Microsoft.Compute/virtualMachines/extensions/*", "Microsoft.Insights/alertRules/*",
		"Microsoft.Insights/diagnosticSettings/*", "Microsoft.OperationalInsights/*", "Microsoft.OperationsManagement/*", "Microsoft.Resources/deployments/*",
		"Microsoft.Resources/subscriptions/resourcegroups/deployments/*", "Microsoft.Storage/storageAccounts/listKeys/action", "Microsoft.Support/*"}}}},
}

// AddRoleDefinition adds a custom role; its ID's last segment (or the ID
// itself) is its GUID.
func (s *RBAC) AddRoleDefinition(def guard.RoleDefinition) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.definitions[roleKey(def.ID)] = def
}

// SetGuard names the principal whose permissions PermissionsClient lists:
// the guard's own identity.
func (s *RBAC) SetGuard(principalID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.guard = principalID
}

func roleKey(id string) string { return strings.ToLower(id[strings.LastIndex(id, "/")+1:]) }

// definition returns the role with the given ID. s.mu must be held.
func (s *RBAC) definition(id string) (guard.RoleDefinition, bool) {
	k := roleKey(id)
	if def, ok := s.definitions[k]; ok {
		return def, true
	}
	def, ok := builtinDefinitions[k]
	if ok && def.ID == "" {
		def.ID = "/providers/Microsoft.Authorization/roleDefinitions/" + k
	}
	return def, ok
}

// permissionsOf returns what principal may do at scope: one set per role
// assignment of its that applies there; everything for a principal that
// holds none. s.mu must be held.
func (s *RBAC) permissionsOf(principal, scope string) []guard.PermissionSet {
	var out []guard.PermissionSet
	holds := false
	for _, a := range s.assignments {
		if !strings.EqualFold(a.PrincipalID, principal) {
			continue
		}
		holds = true
		if !covers(a.Scope, scope) {
			continue
		}
		if def, ok := s.definition(a.RoleDefinitionID); ok {
			out = append(out, def.Permissions...)
		}
	}
	if !holds {
		return []guard.PermissionSet{{Actions: []string{"*"}}}
	}
	return out
}

// GuardAllows reports whether the guard's identity may take action at
// scope, as the permissions API would say.
func (s *RBAC) GuardAllows(scope, action string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return guard.Allows(s.permissionsOf(s.guard, scope), action)
}

// serveDefinition answers RoleDefinitionsClient.GetByID.
func (s *RBAC) serveDefinition(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	def, ok := s.definition(req.URL.Path)
	s.mu.Unlock()
	if !ok {
		return nil, injected(req, &failure{status: http.StatusNotFound, code: "RoleDefinitionDoesNotExist"})
	}
	type perm struct {
		Actions    []string `json:"actions"`
		NotActions []string `json:"notActions"`
	}
	var perms []perm
	for _, p := range def.Permissions {
		perms = append(perms, perm{Actions: p.Actions, NotActions: p.NotActions})
	}
	body := map[string]any{"id": req.URL.Path, "name": roleKey(req.URL.Path), "type": "Microsoft.Authorization/roleDefinitions",
		"properties": map[string]any{"roleName": def.Name, "permissions": perms}}
	return server.MarshalResponseAsJSON(server.ResponseContent{HTTPStatus: http.StatusOK}, body, req)
}

// servePermissions answers the PermissionsClient lists: the guard's
// permissions at the scope the path names.
func (s *RBAC) servePermissions(req *http.Request) (*http.Response, error) {
	scope := req.URL.Path
	if i := strings.Index(strings.ToLower(scope), "/providers/microsoft.authorization/permissions"); i >= 0 {
		scope = scope[:i]
	}
	s.mu.Lock()
	perms := s.permissionsOf(s.guard, scope)
	s.mu.Unlock()
	var value []map[string]any
	for _, p := range perms {
		value = append(value, map[string]any{"actions": p.Actions, "notActions": p.NotActions})
	}
	return server.MarshalResponseAsJSON(server.ResponseContent{HTTPStatus: http.StatusOK}, map[string]any{"value": value}, req)
}
