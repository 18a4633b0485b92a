// The topic the guard publishes its alerts to, as CloudEvents 1.0; other
// systems subscribe. Local (key) auth is off.

param name string
param location string
param tags object
param guardPrincipalId string
@description('An e-mail-free example: a webhook (Teams workflow, Logic App, PagerDuty) to send every alert to; empty for none.')
param webhookUrl string = ''

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  name: name
  location: location
  tags: tags
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    disableLocalAuth: true
    minimumTlsVersionAllowed: '1.2'
  }
}

// The guard publishes alerts (EventGrid Data Sender).
resource sender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, guardPrincipalId, 'd5a91429-5739-47e2-a06b-3470a27159e7')
  scope: topic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'd5a91429-5739-47e2-a06b-3470a27159e7')
    principalId: guardPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource example 'Microsoft.EventGrid/topics/eventSubscriptions@2025-02-15' = if (!empty(webhookUrl)) {
  parent: topic
  name: 'alerts-to-webhook'
  properties: {
    eventDeliverySchema: 'CloudEventSchemaV1_0'
    destination: {
      endpointType: 'WebHook'
      properties: { endpointUrl: webhookUrl }
    }
    filter: {
      // Every alert; narrow to e.g. aksguard.remediation.failed for paging.
      includedEventTypes: []
    }
  }
}

output id string = topic.id
output endpoint string = topic.properties.endpoint
