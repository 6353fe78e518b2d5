@description('Principal (object) id of the function app\'s user-assigned identity.')
param appPrincipalId string

param storageAccountName string

@description('Blob containers the Functions host keeps its keys and leases in.')
param hostContainerNames string[]

@description('Blob container Flex Consumption deploys the app package from.')
param deploymentContainerName string

param tableNames string[]

@description('Every queue the app uses: session events and the sweep\'s work items, each with its poison queue.')
param queueNames string[]
param keyVaultName string
param applicationInsightsName string

@description('Object id of whoever puts secrets into Key Vault. Empty: no assignment.')
param deployerPrincipalId string

@allowed(['User', 'Group', 'ServicePrincipal'])
param deployerPrincipalType string

@description('Whether a provider signs client assertions with a Key Vault certificate (private_key_jwt).')
param readsCertificates bool = false

// Built-in role definition ids (the same in every tenant). infra/README.md says why each one is needed.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  keyVaultCertificateUser: 'db79e9a7-68ee-4b58-9aeb-b90e7c24fcba'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource storage 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: storageAccountName

  resource blobService 'blobServices' existing = {
    name: 'default'

    resource deploymentContainer 'containers' existing = {
      name: deploymentContainerName
    }
  }

  resource tableService 'tableServices' existing = {
    name: 'default'
  }

  resource queueService 'queueServices' existing = {
    name: 'default'
  }
}

resource hostContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' existing = [
  for containerName in hostContainerNames: {
    parent: storage::blobService
    name: containerName
  }
]

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2024-01-01' existing = [
  for tableName in tableNames: {
    parent: storage::tableService
    name: tableName
  }
]

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2024-01-01' existing = [
  for queueName in queueNames: {
    parent: storage::queueService
    name: queueName
  }
]

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyVaultName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// The Functions host keeps its keys (azure-webjobs-secrets) and its timer and host-id leases (azure-webjobs-hosts) in
// blobs: Owner on those two containers only, which this template creates so the host never has to.
resource hostBlobs 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (containerName, i) in hostContainerNames: {
    name: guid(hostContainers[i].id, appPrincipalId, roles.storageBlobDataOwner)
    scope: hostContainers[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
      principalId: appPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

// Flex Consumption's one-deploy (azd deploy, az functionapp deployment) has the platform write the package into this
// container *as the app's identity*, then read it at every cold start, so read-only (Storage Blob Data Reader) would
// break deployment. Contributor (no ACL or ownership rights) on this one container is the narrowest that works.
resource deploymentPackage 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage::blobService::deploymentContainer.id, appPrincipalId, roles.storageBlobDataContributor)
  scope: storage::blobService::deploymentContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Sessions: one assignment per table, the narrowest scope Table Storage RBAC offers.
resource sessionTables 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (tableName, i) in tableNames: {
    name: guid(tables[i].id, appPrincipalId, roles.storageTableDataContributor)
    scope: tables[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
      principalId: appPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

// Every queue of the app (session events, sweep work items, their poison queues): one assignment per queue, never
// the account. The app enqueues (add); the queue triggers (EventWebhook, SweepWorker) receive, hide a failed message
// again (update: not in Message Processor) and delete it; the platform reads a queue's length to scale; the host creates-if-missing and adds to the poison queue before moving a message there
// (Message Sender alone would fail that create with 403 and leave the message cycling). Contributor, scoped to
// these queues, is the narrowest built-in role that covers all of it.
resource appQueueContributors 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (queueName, i) in queueNames: {
    name: guid(queues[i].id, appPrincipalId, roles.storageQueueDataContributor)
    scope: queues[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
      principalId: appPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

// Read secrets (client secrets, every version of the encryption key); cannot write or delete them.
resource appSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, appPrincipalId, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Read client certificates (CertificateClient.DownloadCertificate: the certificate, then its private key as the secret of
// the same name); only where a provider authenticates with private_key_jwt.
resource appCertificates 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (readsCertificates) {
  name: guid(vault.id, appPrincipalId, roles.keyVaultCertificateUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultCertificateUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// With local auth off, Application Insights accepts telemetry only from an identity holding this role.
resource telemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, appPrincipalId, roles.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource deployerSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(vault.id, deployerPrincipalId, roles.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}
