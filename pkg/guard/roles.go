package guard

import "strings"

// builtinRoles names the Azure built-in roles the guard meets: those an AKS
// service principal usually holds, those it warns about, and those it
// grants, by role definition GUID
// (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var builtinRoles = map[string]string{
	"8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
	"b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
	"acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
	"18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
	"f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
	"4d97b98b-1d4f-4787-a291-c67834d212e7": "Network Contributor",
	AcrPullRoleID:                          "AcrPull",
	"8311e382-0749-4cb8-b61a-304f252e45ec": "AcrPush",
	"b12aa53e-6015-4669-85d0-8515ebb3ae7f": "Private DNS Zone Contributor",
	"3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
	"9980e02c-c2be-4d73-94e8-173b1dc7cf3c": "Virtual Machine Contributor",
	"f1a07417-d97a-45cb-824c-7a7467783830": "Managed Identity Operator",
	"ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
	"4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
	"ed7f3fbd-7b88-4dd4-9017-9adb7ce333f8": "Azure Kubernetes Service Contributor Role",
}

// RoleName returns the name of the built-in role a role definition ID (or
// bare GUID) names, or "" for a role the guard does not know.
func RoleName(definitionID string) string { return builtinRoles[roleGUID(definitionID)] }

// BuiltinRoleID returns the GUID of the built-in role named name (compared
// case-insensitively), or "".
func BuiltinRoleID(name string) string {
	for id, n := range builtinRoles {
		if strings.EqualFold(n, name) {
			return id
		}
	}
	return ""
}
