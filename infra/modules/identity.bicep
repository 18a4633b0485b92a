// The guard's only identity: a user-assigned managed identity, so its object
// id is known before the function app exists (role assignments, the
// AKSGUARD_PRINCIPAL_ID setting) and survives the app being recreated.

param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
