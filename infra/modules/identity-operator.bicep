// Managed Identity Operator on one user-assigned identity clusters move to
// (or use as kubelet identity): the update's linked authorization checks
// userAssignedIdentities/assign/action on it.
param guardPrincipalId string
param identityName string

resource target 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: identityName
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(target.id, guardPrincipalId, 'f1a07417-d97a-45cb-824c-7a7467783830')
  scope: target
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'f1a07417-d97a-45cb-824c-7a7467783830')
    principalId: guardPrincipalId
    principalType: 'ServicePrincipal'
    description: 'aksguard: attach this identity to a migrated cluster'
  }
}
