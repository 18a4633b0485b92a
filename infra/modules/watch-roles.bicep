// What the guard may do in a subscription it watches.
targetScope = 'subscription'

param guardPrincipalId string
@description('Role definition GUIDs the guard may grant to a cluster\'s new identities.')
param grantableRoles array

var reader = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
var rbacAdministrator = 'f58310d9-a9f6-439a-9e8d-f62e7b41a168'

// Read clusters, maintenance configurations and upgrade profiles, role
// assignments and definitions (the plan), what the guard itself may do
// (permissions/read, the pre-flight), and run Resource Graph: the sweep's
// listing, the clusters' change history (who set the approval tag) and
// Azure Policy's states all need read access to the subscription.
resource readAll 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, guardPrincipalId, reader)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', reader)
    principalId: guardPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Grant a migrated cluster's identities the roles its service principal
// held, and the add-ons' roles — and nothing else: the condition lets the
// guard create or delete only assignments of grantableRoles (Microsoft's
// "delegate role assignment management with conditions" pattern).
var ids = join(grantableRoles, ', ')
resource grantRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, guardPrincipalId, rbacAdministrator)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', rbacAdministrator)
    principalId: guardPrincipalId
    principalType: 'ServicePrincipal'
    description: 'aksguard: re-grant a migrated cluster\'s roles, limited to the grantable roles'
    conditionVersion: '2.0'
    condition: '((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/write\'})) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${ids}})) AND ((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/delete\'})) OR (@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${ids}}))'
  }
}
