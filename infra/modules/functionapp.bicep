// The function app: Linux, custom handler (the aksguard binary), on the
// Flex Consumption plan, with the guard's user-assigned identity for every
// connection: host storage, the deployment package, Service Bus, Event
// Grid, Application Insights. No key or connection string anywhere.

param name string
param location string
param tags object
@description('azd finds the app to deploy to by this tag; only the site carries it.')
param serviceName string
param identityId string
param identityClientId string
param storageName string
param blobEndpoint string
param packageContainer string
param insightsConnectionString string
@description('The guard\'s app settings, by name.')
param guardSettings object
@description('Instances the app may scale out to.')
param maximumInstanceCount int = 40
@description('Memory of an instance, in MB: 512 is enough for the guard (about 20 MB resident).')
param instanceMemoryMB int = 512

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${name}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true } // Linux
}

// The Functions host's own settings; the guard's are merged in.
var hostSettings = {
  // Host storage through the identity (no AzureWebJobsStorage key).
  AzureWebJobsStorage__accountName: storageName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: insightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${packageContainer}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      // A custom handler: host.json names the executable (aksguard serve).
      runtime: { name: 'custom', version: '1.0' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: [for s in items(union(hostSettings, guardSettings)): { name: s.key, value: s.value }]
    }
  }
}

output id string = app.id
output name string = app.name
output defaultHostName string = app.properties.defaultHostName
