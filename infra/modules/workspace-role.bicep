// Log Analytics Contributor on one workspace a cluster's monitoring add-on
// uses: the update's linked authorization checks workspaces/sharedkeys/read.
param guardPrincipalId string
param workspaceName string

resource target 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(target.id, guardPrincipalId, '92aaf0da-9dab-42b6-94a3-d43ce8d16293')
  scope: target
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '92aaf0da-9dab-42b6-94a3-d43ce8d16293')
    principalId: guardPrincipalId
    principalType: 'ServicePrincipal'
    description: 'aksguard: linked authorization of a cluster update (the monitoring add-on\'s workspace)'
  }
}
