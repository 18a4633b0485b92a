// Storage for the Functions host, the guard's tables and Event Grid's
// dead letters. Shared keys are off: every client signs in with Microsoft
// Entra ID (the guard's identity, the system topics' identity).

param name string
param location string
param tags object
@description('Principal id of the guard\'s identity.')
param guardPrincipalId string
@description('Table name prefix (AKSGUARD_TABLE_PREFIX); the tables are <prefix>findings, jobs, audit and kpis.')
param tablePrefix string = ''

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

// Event Grid writes events it could not deliver here.
resource deadLetters 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: 'event-dead-letters'
}

// The Flex Consumption plan keeps the deployed package here.
resource packages 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: 'app-package'
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

// serve creates them too when missing; here they exist before the first event.
resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for t in ['findings', 'jobs', 'audit', 'kpis']: {
  parent: tableService
  name: '${tablePrefix}${t}'
}]

var roles = {
  // The host's own storage (leases, timers' schedule monitor) and the package.
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  queueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  // The guard's records.
  tableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
}

resource guardRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for r in items(roles): {
  name: guid(account.id, guardPrincipalId, r.value)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', r.value)
    principalId: guardPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

output id string = account.id
output name string = account.name
output tableEndpoint string = account.properties.primaryEndpoints.table
output blobEndpoint string = account.properties.primaryEndpoints.blob
output deadLetterContainer string = deadLetters.name
output packageContainer string = packages.name
