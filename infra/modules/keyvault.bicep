@description('Key Vault name (3-24 characters).')
param name string

param location string
param tags object

@description('Accept requests from the internet as well as through the private endpoint (a first trial only).')
param allowPublicNetworkAccess bool

// Holds the OAuth client secrets and the token-encryption key. Access is RBAC only (no access policies);
// purge protection means a deleted secret, the encryption key above all, can always be recovered.
resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    // Reached through its private endpoint (modules/network.bicep). Key Vault has no minimum-TLS setting: the
    // service sets its own minimum (TLS 1.2 at the time of writing) and negotiates TLS 1.3 where the client offers it.
    publicNetworkAccess: allowPublicNetworkAccess ? 'Enabled' : 'Disabled'
    networkAcls: {
      defaultAction: allowPublicNetworkAccess ? 'Allow' : 'Deny'
      bypass: allowPublicNetworkAccess ? 'AzureServices' : 'None'
    }
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
