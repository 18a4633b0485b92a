// The remediation queue. Standard tier: duplicate detection needs it, and it
// can only be turned on when the queue is created.

param name string
param location string
param tags object
param guardPrincipalId string
@description('The queue functions/RemediationJobs/function.json and the code name (servicebus.QueueName).')
param queueName string = 'remediation-jobs'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: { name: 'Standard', tier: 'Standard' }
  properties: {
    disableLocalAuth: true // no SAS keys: Entra ID only
    minimumTlsVersion: '1.2'
  }
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: queueName
  properties: {
    requiresDuplicateDetection: true
    // Every message id is deterministic, so a message sent again is dropped
    // within this window. The longest replay is the outbox's: an effect
    // sent while Table Storage could not record it is sent again by the
    // next Reconcile after storage comes back, so the window must cover a
    // storage outage; a day covers any Microsoft has had. Past it a repeat
    // is delivered and the job drops it as a stale timer (it only costs an
    // invocation). The maximum is seven days.
    duplicateDetectionHistoryTimeWindow: 'P1D'
    // The Functions host's default lock is 1 minute and it renews the lock
    // up to maxAutoLockRenewalDuration (host.json, 5 minutes).
    lockDuration: 'PT1M'
    // Ten deliveries, then the dead-letter queue, where Reconcile's resend
    // (and a person) finds the job again.
    maxDeliveryCount: 10
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
  }
}

var roles = {
  // Wake-ups and re-reads the guard schedules.
  sender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  // The RemediationJobs trigger.
  receiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
}

resource guardRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for r in items(roles): {
  name: guid(queue.id, guardPrincipalId, r.value)
  scope: queue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', r.value)
    principalId: guardPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

output id string = namespace.id
output name string = namespace.name
output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
output queueName string = queue.name
