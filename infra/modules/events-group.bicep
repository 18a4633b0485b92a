// One watched subscription: a resource group in it for its system topic
// (a system topic lives in the subscription whose events it carries), and
// the topic and subscription to the guard.
targetScope = 'subscription'

param resourceGroupName string
param location string
param tags object
param identityId string
param functionAppId string
param deadLetterStorageId string
param deadLetterContainer string
param operations array

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: resourceGroupName
  location: location
  tags: tags
}

module events 'events.bicep' = {
  name: 'aksguard-events'
  scope: group
  params: {
    tags: tags
    identityId: identityId
    functionAppId: functionAppId
    deadLetterStorageId: deadLetterStorageId
    deadLetterContainer: deadLetterContainer
    operations: operations
  }
}
