// The policy guardrail: Azure Policy's own audit of clusters on a service
// principal, which the report compares with the guard's verdicts, and a
// custom definition with the same rule that can deny new ones at creation.
targetScope = 'subscription'

@description('Assign the Deny definition: new or updated clusters on a service principal are refused by ARM. Off by default.')
param denyServicePrincipalClusters bool = false

// Built-in "Azure Kubernetes Service Clusters should use managed
// identities"; its effect is Audit or Disabled only.
var builtin = '/providers/Microsoft.Authorization/policyDefinitions/da6e2401-19da-4532-9141-fb8fbde08431'

resource audit 'Microsoft.Authorization/policyAssignments@2024-04-01' = {
  name: 'aksguard-aks-msi-audit'
  properties: {
    displayName: 'AKS clusters should use managed identities (audit, aksguard)'
    policyDefinitionId: builtin
    parameters: { effect: { value: 'Audit' } }
  }
}

// The built-in rule, with Deny allowed.
resource denyDefinition 'Microsoft.Authorization/policyDefinitions@2023-04-01' = {
  name: 'aksguard-aks-msi-deny'
  properties: {
    policyType: 'Custom'
    mode: 'Indexed'
    displayName: 'AKS clusters must use managed identities (aksguard)'
    description: 'Same rule as the built-in da6e2401-19da-4532-9141-fb8fbde08431, with Deny: a cluster whose servicePrincipalProfile.clientId is not msi is refused.'
    metadata: { category: 'Kubernetes' }
    parameters: {
      effect: {
        type: 'String'
        allowedValues: ['Audit', 'Deny', 'Disabled']
        defaultValue: 'Deny'
      }
    }
    policyRule: {
      if: {
        allOf: [
          { field: 'type', equals: 'Microsoft.ContainerService/managedClusters' }
          { field: 'Microsoft.ContainerService/managedClusters/servicePrincipalProfile', exists: 'true' }
          { field: 'Microsoft.ContainerService/managedClusters/servicePrincipalProfile.clientId', notEquals: 'msi' }
        ]
      }
      then: { effect: '[parameters(\'effect\')]' }
    }
  }
}

resource deny 'Microsoft.Authorization/policyAssignments@2024-04-01' = if (denyServicePrincipalClusters) {
  name: 'aksguard-aks-msi-deny'
  properties: {
    displayName: 'AKS clusters must use managed identities (deny, aksguard)'
    policyDefinitionId: denyDefinition.id
    parameters: { effect: { value: 'Deny' } }
  }
}
