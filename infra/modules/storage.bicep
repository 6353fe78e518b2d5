@description('Storage account name (3-24 lowercase letters and digits).')
param name string

@description('Blob container the Flex Consumption plan deploys the app package from.')
param deploymentContainerName string

@description('Blob containers the Functions host keeps its state in (created here: the app identity is scoped to them and cannot create containers).')
param hostContainerNames string[]

@description('Tables the app keeps sessions in (created here: the app identity cannot create tables).')
param tableNames string[]

@description('Queues the app uses: session events, the sweep\'s work items, and their poison queues (created here, so the app identity needs no right to create queues).')
param queueNames string[]

@description('Accept requests from the internet as well as through the private endpoints (a first trial only).')
param allowPublicNetworkAccess bool

param location string
param tags object

resource storage 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    // The highest minimum Storage accepts: TLS1_3 is not an allowed value of minimumTlsVersion (clients may still
    // negotiate TLS 1.3).
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    // Private endpoints (modules/network.bicep) are the way in; no trusted-service bypass either.
    publicNetworkAccess: allowPublicNetworkAccess ? 'Enabled' : 'Disabled'
    networkAcls: {
      defaultAction: allowPublicNetworkAccess ? 'Allow' : 'Deny'
      bypass: allowPublicNetworkAccess ? 'AzureServices' : 'None'
    }
  }

  resource blobService 'blobServices' = {
    name: 'default'

    resource deploymentContainer 'containers' = {
      name: deploymentContainerName
      properties: {
        publicAccess: 'None'
      }
    }

    resource hostContainers 'containers' = [
      for containerName in hostContainerNames: {
        name: containerName
        properties: {
          publicAccess: 'None'
        }
      }
    ]
  }

  resource tableService 'tableServices' = {
    name: 'default'

    resource table 'tables' = [
      for tableName in tableNames: {
        name: tableName
      }
    ]
  }

  resource queueService 'queueServices' = {
    name: 'default'

    resource queue 'queues' = [
      for queueName in queueNames: {
        name: queueName
      }
    ]
  }
}

// Table Storage has no soft delete: deleting the account (or a table through ARM) would lose every session at once.
resource noDelete 'Microsoft.Authorization/locks@2020-05-01' = {
  name: 'no-delete'
  scope: storage
  properties: {
    level: 'CanNotDelete'
    notes: 'Holds every session (Table Storage has no soft delete). Remove this lock deliberately before deleting the account.'
  }
}

output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output tableEndpoint string = storage.properties.primaryEndpoints.table
output queueEndpoint string = storage.properties.primaryEndpoints.queue
