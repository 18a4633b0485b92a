// AKS Identity Guard: everything it runs on, in one deployment at
// subscription scope (azd up, or az deployment sub create).
targetScope = 'subscription'

@minLength(1)
@maxLength(20)
@description('Name of the environment (azd sets it); names the resource group and every resource.')
param environmentName string

@description('Region for the resources.')
param location string

@description('Subscriptions the guard watches (events) and sweeps; the deployment\'s subscription by default. Each gets a resource group with its system topic, and Reader plus the conditioned role-assignment role for the guard.')
param watchedSubscriptions array = [subscription().subscriptionId]

@allowed(['dry-run', 'enforce'])
@description('AKSGUARD_MODE: dry-run plans, records and alerts, and changes nothing.')
param mode string = 'dry-run'

@description('AKSGUARD_ENFORCE_SCOPES: /subscriptions/<id> or /subscriptions/<id>/resourceGroups/<name> where enforce applies; the guard gets Azure Kubernetes Service Contributor Role there and nowhere else.')
param enforceScopes array = []

@description('AKSGUARD_APPROVERS: object ids, user principal names or application ids whose approvals count; empty allows anyone who may tag a cluster.')
param approvers array = []

@description('AKSGUARD_NODE_IMAGE_UPGRADE: skip or enforce.')
@allowed(['skip', 'enforce'])
param nodeImageUpgrade string = 'skip'

@allowed(['true', 'false'])
@description('AKSGUARD_REQUIRE_WINDOW: true blocks clusters without a planned maintenance configuration instead of updating them at once.')
param requireWindow string = 'false'

@description('AKSGUARD_ROLE_PROPAGATION.')
param rolePropagation string = '10m'

@description('AKSGUARD_USER_ASSIGNED_IDENTITY: resource ID of the identity for clusters that need a user-assigned one; empty for none.')
param clusterIdentity string = ''

@description('AKSGUARD_ROLE_SCOPES: extra /subscriptions/<id> where service principals\' role assignments are looked up (the guard gets Reader there).')
param roleScopes array = []

@description('AKSGUARD_SWEEP_SCHEDULE: NCRONTAB schedule of the Sweep timer.')
param sweepSchedule string = '0 0 * * * *'

@description('AKSGUARD_SWEEP_MANAGEMENT_GROUP: sweep the subscriptions under this management group; empty sweeps those the guard can read.')
param sweepManagementGroup string = ''

@description('Resource groups of the networks (subnets, outbound IPs) of clusters in enforceScopes: Network Contributor, for the update\'s linked authorization.')
param networkResourceGroups array = []

@description('Log Analytics workspaces (resource IDs) the monitoring add-on of clusters in enforceScopes writes to: Log Analytics Contributor, for the linked authorization.')
param monitoringWorkspaces array = []

@description('User-assigned identities (resource IDs) clusters move to: Managed Identity Operator.')
param clusterIdentities array = []

@description('Role definition GUIDs the guard may grant to migrated clusters\' identities (the ABAC condition). Default: Network Contributor, Private DNS Zone Contributor, Monitoring Metrics Publisher, AcrPull, AcrPush, and Contributor, which the Azure CLI grants the application gateway ingress and virtual node add-ons; drop it if no cluster uses them.')
param grantableRoles array = [
  '4d97b98b-1d4f-4787-a291-c67834d212e7' // Network Contributor
  'b12aa53e-6015-4669-85d0-8515ebb3ae7f' // Private DNS Zone Contributor
  '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher
  '7f951dda-4ed3-4680-a7ca-43fe172d538d' // AcrPull
  '8311e382-0749-4cb8-b61a-304f252e45ec' // AcrPush
  'b24988ac-6180-42a0-ab88-20f7382dd24c' // Contributor
]

@description('E-mail address for dead letters and failed invocations; empty for none.')
param alertEmail string = ''

@description('Webhook for dead letters and failed invocations (an Azure Monitor action group); empty for none.')
param alertWebhook string = ''

@description('Webhook subscribed to every guard alert on the alerts topic, as an example; empty for none. Event Grid validates it with the CloudEvents OPTIONS handshake (WebHook-Allowed-Origin) when the subscription is created: the endpoint must answer it.')
param alertsTopicWebhook string = ''

@description('Assign the custom Deny policy so new clusters on a service principal are refused at creation. Off by default.')
param denyServicePrincipalClusters bool = false

@description('Existing system topics of watched subscriptions, by subscription id: {"<subscription id>": {"resourceGroup": "Default-EventGrid", "name": "<topic>"}}. A subscription has at most one system topic for its events; where one exists, the guard subscribes to it instead of creating its own.')
param existingSystemTopics object = {}

@allowed(['true', 'false'])
@description('Create the event subscriptions to ClusterEvents. Event Grid checks that the function exists when one is created, so the first provision (before any code is deployed) leaves them out; azd\'s postdeploy hook provisions again with true. A string: azd passes parameters from its environment as text.')
param wireEvents string = 'false'

var tags = { 'azd-env-name': environmentName, app: 'aksguard' }
// Each subscription once; role scopes that are watched already have Reader.
var watched = union(watchedSubscriptions, [])
var extraRoleScopes = filter(union(roleScopes, []), s => !contains(watched, split(s, '/')[2]))
var token = toLower(uniqueString(subscription().id, environmentName, location))

// The operations the intake handles (triage.Operations); the event
// subscription's filter lets through exactly these.
var operations = [
  'Microsoft.ContainerService/managedClusters/write'
  'Microsoft.ContainerService/managedClusters/agentPools/write'
  'Microsoft.ContainerService/managedClusters/delete'
  'Microsoft.Resources/tags/write'
  'Microsoft.Resources/tags/delete'
]

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: group
  params: { name: 'id-aksguard-${token}', location: location, tags: tags }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: group
  params: { name: 'staksguard${token}', location: location, tags: tags, guardPrincipalId: identity.outputs.principalId }
}

module servicebus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  scope: group
  params: { name: 'sb-aksguard-${token}', location: location, tags: tags, guardPrincipalId: identity.outputs.principalId }
}

module alertsTopic 'modules/alerts-topic.bicep' = {
  name: 'alerts-topic'
  scope: group
  params: { name: 'evgt-aksguard-${token}', location: location, tags: tags, guardPrincipalId: identity.outputs.principalId, webhookUrl: alertsTopicWebhook }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: group
  params: {
    name: 'aksguard-${token}'
    location: location
    tags: tags
    serviceBusId: servicebus.outputs.id
    queueName: servicebus.outputs.queueName
    alertEmail: alertEmail
    alertWebhook: alertWebhook
    guardPrincipalId: identity.outputs.principalId
  }
}

module app 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: group
  params: {
    name: 'func-aksguard-${token}'
    location: location
    tags: tags
    serviceName: 'guard'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageName: storage.outputs.name
    blobEndpoint: storage.outputs.blobEndpoint
    packageContainer: storage.outputs.packageContainer
    insightsConnectionString: monitoring.outputs.connectionString
    // The guard's app settings (pkg/settings; a test holds the lists equal).
    guardSettings: {
      AKSGUARD_TABLES_ENDPOINT: storage.outputs.tableEndpoint
      AKSGUARD_TABLE_PREFIX: ''
      AKSGUARD_SERVICEBUS__fullyQualifiedNamespace: servicebus.outputs.fullyQualifiedNamespace
      AKSGUARD_SERVICEBUS__credential: 'managedidentity'
      AKSGUARD_SERVICEBUS__clientId: identity.outputs.clientId
      AKSGUARD_ALERTS_ENDPOINT: alertsTopic.outputs.endpoint
      AKSGUARD_ALERTS_SOURCE: ''
      AKSGUARD_PRINCIPAL_ID: identity.outputs.principalId
      AZURE_CLIENT_ID: identity.outputs.clientId
      AKSGUARD_DEBOUNCE: '60s'
      AKSGUARD_MODE: mode
      AKSGUARD_ENFORCE_SCOPES: join(enforceScopes, ',')
      AKSGUARD_APPROVERS: join(approvers, ',')
      AKSGUARD_MAX_UPDATING: '3'
      AKSGUARD_USER_ASSIGNED_IDENTITY: clusterIdentity
      AKSGUARD_ROLE_SCOPES: join(roleScopes, ',')
      AKSGUARD_NODE_IMAGE_UPGRADE: nodeImageUpgrade
      AKSGUARD_ROLE_PROPAGATION: rolePropagation
      AKSGUARD_REQUIRE_WINDOW: requireWindow
      AKSGUARD_LOG_LEVEL: 'info'
      AKSGUARD_SWEEP_SCHEDULE: sweepSchedule
      AKSGUARD_SWEEP_MANAGEMENT_GROUP: sweepManagementGroup
    }
  }
}

// Per watched subscription: its system topic to ClusterEvents, and what
// the guard may do there.
module events 'modules/events-group.bicep' = [for sub in watched: if (wireEvents == 'true') {
  name: 'aksguard-events-${environmentName}'
  scope: subscription(sub)
  params: {
    resourceGroupName: 'rg-${environmentName}-events'
    existingTopic: contains(existingSystemTopics, sub) ? existingSystemTopics[sub] : {}
    location: location
    tags: tags
    identityId: identity.outputs.id
    functionAppId: app.outputs.id
    deadLetterStorageId: storage.outputs.id
    deadLetterContainer: storage.outputs.deadLetterContainer
    operations: operations
  }
}]

module watchRoles 'modules/watch-roles.bicep' = [for sub in watched: {
  name: 'aksguard-roles-${environmentName}'
  scope: subscription(sub)
  params: { guardPrincipalId: identity.outputs.principalId, grantableRoles: grantableRoles }
}]

// Reader where service principals' role assignments are looked up besides.
module roleScopeReader 'modules/subscription-role.bicep' = [for (s, i) in extraRoleScopes: {
  name: 'aksguard-rolescope-${environmentName}-${i}'
  scope: subscription(split(s, '/')[2])
  params: { guardPrincipalId: identity.outputs.principalId, roleId: 'acdd72a7-3385-48ef-bd42-f606fba81ae7', why: 'read service principals\' role assignments (AKSGUARD_ROLE_SCOPES)' }
}]

// Cluster writes and node image upgrades only where enforce applies.
var aksContributor = 'ed7f3fbd-7b88-4dd4-9017-9adb7ce333f8'
module enforceSubscriptions 'modules/subscription-role.bicep' = [for (s, i) in filter(enforceScopes, s => length(split(s, '/')) == 3): {
  name: 'aksguard-enforce-sub-${environmentName}-${i}'
  scope: subscription(split(s, '/')[2])
  params: { guardPrincipalId: identity.outputs.principalId, roleId: aksContributor, why: 'migrate approved clusters (AKSGUARD_ENFORCE_SCOPES)' }
}]
module enforceGroups 'modules/scope-role.bicep' = [for (s, i) in filter(enforceScopes, s => length(split(s, '/')) == 5): {
  name: 'aksguard-enforce-rg-${environmentName}-${i}'
  scope: resourceGroup(split(s, '/')[2], split(s, '/')[4])
  params: { guardPrincipalId: identity.outputs.principalId, roleId: aksContributor, why: 'migrate approved clusters (AKSGUARD_ENFORCE_SCOPES)' }
}]

// The update's linked authorization: the networks, workspaces and
// identities the clusters in enforceScopes reference.
module networks 'modules/scope-role.bicep' = [for (id, i) in networkResourceGroups: {
  name: 'aksguard-network-${environmentName}-${i}'
  scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
  params: { guardPrincipalId: identity.outputs.principalId, roleId: '4d97b98b-1d4f-4787-a291-c67834d212e7', why: 'join subnets and outbound IPs in a cluster update (linked authorization)' }
}]
module workspaces 'modules/workspace-role.bicep' = [for (id, i) in monitoringWorkspaces: {
  name: 'aksguard-workspace-${environmentName}-${i}'
  scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
  params: { guardPrincipalId: identity.outputs.principalId, workspaceName: last(split(id, '/')) }
}]
module identities 'modules/identity-operator.bicep' = [for (id, i) in clusterIdentities: {
  name: 'aksguard-identity-${environmentName}-${i}'
  scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
  params: { guardPrincipalId: identity.outputs.principalId, identityName: last(split(id, '/')) }
}]

module policy 'modules/policy.bicep' = [for sub in watched: {
  name: 'aksguard-policy-${environmentName}'
  scope: subscription(sub)
  params: { denyServicePrincipalClusters: denyServicePrincipalClusters }
}]

output AZURE_RESOURCE_GROUP string = group.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.name
output AKSGUARD_PRINCIPAL_ID string = identity.outputs.principalId
output AKSGUARD_TABLES_ENDPOINT string = storage.outputs.tableEndpoint
output AKSGUARD_SERVICEBUS__fullyQualifiedNamespace string = servicebus.outputs.fullyQualifiedNamespace
output REPORT_URL string = 'https://${app.outputs.defaultHostName}/api/report'
