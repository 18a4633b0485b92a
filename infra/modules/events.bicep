// The subscription's system topic and its event subscription to the
// ClusterEvents function. The filter lets through exactly the operations
// the intake handles (triage.Operations; a test holds them equal), so no
// other write in the subscription ever invokes the function.

param tags object
@description('The system topic: the guard\'s own, or the subscription\'s existing one.')
param topicName string
@description('The topic exists already: keep its tags.')
param keepTags bool = false
@description('The guard\'s user-assigned identity: the topic writes dead letters with it.')
param identityId string
param functionAppId string
param deadLetterStorageId string
param deadLetterContainer string
@description('data.operationName values to deliver.')
param operations array

// Declared whole even when it exists: the topic needs the guard's identity
// to write dead letters without keys. On an existing topic this sets its
// identity to the guard's alone; a topic that uses another identity for
// its own dead letters needs both added by hand.
resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: topicName
  location: 'global'
  tags: keepTags ? null : tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    source: subscription().id
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

resource toGuard 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: topic
  name: 'aksguard-cluster-events'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/ClusterEvents'
        // One event per invocation: the intake's answer is per event.
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.Resources.ResourceWriteSuccess'
        'Microsoft.Resources.ResourceDeleteSuccess'
      ]
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.operationName'
          values: operations
        }
      ]
    }
    // Event Grid's maximum: a day of retries; then the dead letter.
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: identityId
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageId
          blobContainerName: deadLetterContainer
        }
      }
    }
  }
}
