// One role for the guard on the resource group the module is deployed to.
targetScope = 'resourceGroup'

param guardPrincipalId string
param roleId string
param why string

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, guardPrincipalId, roleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    principalId: guardPrincipalId
    principalType: 'ServicePrincipal'
    description: 'aksguard: ${why}'
  }
}
