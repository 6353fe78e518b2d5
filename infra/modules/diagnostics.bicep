@description('Log Analytics workspace every log goes to.')
param logAnalyticsName string

param storageAccountName string
param keyVaultName string

@description('Principal (object) id of the app\'s identity: its secret reads are expected, anyone else\'s are not.')
param appPrincipalId string

param location string
param tags object

@description('Secret reads per hour by the app itself above which the alert fires.')
param secretReadThreshold int

@description('Action groups the alert notifies. Empty: the alert shows in Azure Monitor only.')
param actionGroupIds string[]

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsName
}

resource storage 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: storageAccountName

  resource blobService 'blobServices' existing = {
    name: 'default'
  }

  resource tableService 'tableServices' existing = {
    name: 'default'
  }
}

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyVaultName
}

var storageLogs = [
  { category: 'StorageRead', enabled: true }
  { category: 'StorageWrite', enabled: true }
  { category: 'StorageDelete', enabled: true }
]

// Every secret read, by whom, from where, allowed or denied (AzureDiagnostics table).
resource vaultAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: vault
  properties: {
    workspaceId: workspace.id
    logs: [
      { category: 'AuditEvent', enabled: true }
    ]
  }
}

// Session rows are read and written through the table service (StorageTableLogs); the host's keys, leases and the app
// package live in blobs (StorageBlobLogs). Row keys are hashes of handles, so the logs hold no usable handle.
resource tableLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: storage::tableService
  properties: {
    workspaceId: workspace.id
    logs: storageLogs
  }
}

resource blobLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: storage::blobService
  properties: {
    workspaceId: workspace.id
    logs: storageLogs
  }
}

// A secret read by anyone but the app (a person, a pipeline, a stolen credential; denied attempts included), or more
// reads by the app than its instances need: both are worth a look. column_ifexists: the claim columns appear in
// AzureDiagnostics only once such a record has been ingested.
var unusualSecretReads = '''
let app = '{0}';
AzureDiagnostics
| where ResourceProvider == 'MICROSOFT.KEYVAULT' and Category == 'AuditEvent'
| where OperationName in ('SecretGet', 'SecretList', 'SecretListVersions', 'SecretBackup', 'SecretGetDeleted', 'SecretListDeleted')
| extend caller = coalesce(tostring(column_ifexists('identity_claim_oid_g', '')), tostring(column_ifexists('identity_claim_http_schemas_microsoft_com_identity_claims_objectidentifier_g', '')))
| summarize reads = count() by caller
| where caller != app or reads > {1}
'''

resource secretReadAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${vault.name}-secret-reads'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Unusual secret reads in ${vault.name}'
    description: 'A Key Vault secret was read (or a read was attempted) by an identity other than the FunctionsAuth app, or the app read more secrets in an hour than its instances need.'
    severity: 1
    enabled: true
    scopes: [
      workspace.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT1H'
    criteria: {
      allOf: [
        {
          query: format(unusualSecretReads, appPrincipalId, secretReadThreshold)
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    // The AzureDiagnostics table exists only after the first Key Vault record arrives; the rule must deploy before that.
    skipQueryValidation: true
    autoMitigate: false
    actions: {
      actionGroups: actionGroupIds
    }
  }
  dependsOn: [
    vaultAudit
  ]
}
