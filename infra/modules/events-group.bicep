// One watched subscription: a resource group in it for its system topic
// (a system topic lives in the subscription whose events it carries), and
// the topic and subscription to the guard — or, where the subscription has
// a system topic already (only one is allowed per source), a subscription
// on that one.
targetScope = 'subscription'

param resourceGroupName string
@description('{resourceGroup, name} of the subscription\'s existing system topic; empty to create one.')
param existingTopic object
param location string
param tags object
param identityId string
param functionAppId string
param deadLetterStorageId string
param deadLetterContainer string
param operations array

var existing = !empty(existingTopic)

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = if (!existing) {
  name: resourceGroupName
  location: location
  tags: tags
}

module events 'events.bicep' = {
  name: 'aksguard-events'
  scope: resourceGroup(existing ? existingTopic.resourceGroup : resourceGroupName)
  dependsOn: [group]
  params: {
    topicName: existing ? existingTopic.name : 'aksguard-${subscription().subscriptionId}'
    keepTags: existing
    tags: tags
    identityId: identityId
    functionAppId: functionAppId
    deadLetterStorageId: deadLetterStorageId
    deadLetterContainer: deadLetterContainer
    operations: operations
  }
}
