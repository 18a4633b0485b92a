// Logs and telemetry of the function app, and the two alerts an operator
// must not miss: a message in the dead-letter queue (a job's step a person
// must look at) and failed invocations.

param name string
param location string
param tags object
@description('Service Bus namespace holding the remediation queue.')
param serviceBusId string
param queueName string
@description('Who hears of a dead letter or failed invocations: an e-mail address; empty for none.')
param alertEmail string = ''
@description('And/or a webhook (Teams workflow, PagerDuty, Logic App); empty for none.')
param alertWebhook string = ''
@description('Principal id of the guard\'s identity, which sends the telemetry.')
param guardPrincipalId string

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${name}'
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${name}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true // the app sends with its identity (Monitoring Metrics Publisher)
  }
}

// Application Insights takes Entra ID-authenticated telemetry only
// (DisableLocalAuth): the app's identity publishes it.
resource publisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, guardPrincipalId, '3913510d-42f4-4e42-8a64-420c390055eb')
  scope: insights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '3913510d-42f4-4e42-8a64-420c390055eb')
    principalId: guardPrincipalId
    principalType: 'ServicePrincipal'
  }
}

var receivers = !empty(alertEmail) || !empty(alertWebhook)

resource actions 'Microsoft.Insights/actionGroups@2023-01-01' = if (receivers) {
  name: 'ag-${name}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: take('aksguard', 12)
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      { name: 'operators', emailAddress: alertEmail, useCommonAlertSchema: true }
    ]
    webhookReceivers: empty(alertWebhook) ? [] : [
      { name: 'webhook', serviceUri: alertWebhook, useCommonAlertSchema: true, useAadAuth: false }
    ]
  }
}

resource deadLetters 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-${name}-dead-letters'
  location: 'global'
  tags: tags
  properties: {
    description: 'A remediation queue message was dead-lettered: a job step failed ten times. Read it (Service Bus Explorer), fix the cause; Reconcile sends the job its wake-up again.'
    severity: 2
    enabled: true
    scopes: [serviceBusId]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'dead-lettered'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [{ name: 'EntityName', operator: 'Include', values: [queueName] }]
          timeAggregation: 'Maximum'
          operator: 'GreaterThan'
          threshold: 0
        }
      ]
    }
    actions: receivers ? [{ actionGroupId: actions.id }] : []
  }
}

// App Service has no metric for failed function executions; Application
// Insights' requests/failed counts them (each invocation is a request).
resource failures 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-${name}-failed-invocations'
  location: 'global'
  tags: tags
  properties: {
    description: 'Invocations failed (the handler answered non-2xx: state could not be recorded, or an invocation was cut short). Read the app\'s logs for the error.'
    severity: 2
    enabled: true
    scopes: [insights.id]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'failed'
          metricNamespace: 'microsoft.insights/components'
          metricName: 'requests/failed'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 5
        }
      ]
    }
    actions: receivers ? [{ actionGroupId: actions.id }] : []
  }
}

output insightsId string = insights.id
output connectionString string = insights.properties.ConnectionString
