metadata description = 'FunctionsAuth: the OAuth refresh backend on Azure Functions Flex Consumption. Identity-only access to Storage, Key Vault and Application Insights; no keys or connection strings anywhere.'

targetScope = 'resourceGroup'

@description('One OAuth provider. Becomes the FunctionsAuth__Providers__<name>__* app settings.')
@sealed()
type provider = {
  @description('Name front ends send as "provider".')
  @minLength(1)
  name: string
  kind: 'Oidc' | 'Google' | 'Entra'
  @description('OpenID Connect issuer (discovery). Preset for Google and Entra.')
  issuer: string?
  @description('Entra ID tenant (id, domain, organizations or common).')
  tenantId: string?
  @description('Entra ID only: the cloud\'s login host (default https://login.microsoftonline.com/; https://login.microsoftonline.us/ for US Government).')
  instance: string?
  @minLength(1)
  clientId: string
  @description('NAME of the Key Vault secret holding the client secret, never the secret itself. Omit for public clients.')
  clientSecretName: string?
  @description('Space-separated scopes requested on refresh.')
  scopes: string?
  @description('Space-separated scopes front ends may ask a token for ("scope" on /api/auth/refresh). Default: a subset of the session\'s granted scope. Entra ID: list each resource\'s, e.g. https://graph.microsoft.com/.default.')
  allowedScopes: string?
  @description('Space-separated resource URIs front ends may ask a token for ("resource", RFC 8707). Default: none.')
  allowedResources: string?
  @description('How the client authenticates (README, Client authentication). ManagedIdentity: Entra ID federated credential, no secret (infra/README.md).')
  clientAuthentication: ('Auto' | 'ClientSecretBasic' | 'ClientSecretPost' | 'PrivateKeyJwt' | 'ManagedIdentity')?
  @description('NAME of the Key Vault certificate that signs private_key_jwt assertions. Grants the app Key Vault Certificate User.')
  clientCertificateName: string?
  @description('Shape of private_key_jwt assertions: Rfc7523 (aud = token endpoint) or Rfc7523bis (aud = issuer).')
  clientAssertionFormat: ('Rfc7523' | 'Rfc7523bis')?
  @description('Whether sign-out revokes the grant at the provider (Auto: Never for Google, Always otherwise).')
  signOutRevocation: ('Auto' | 'Always' | 'OnRequest' | 'Never')?
  @description('ManagedIdentity only: the managed identity token\'s audience, as the federated credential lists it (default: the instance\'s cloud\'s, api://AzureADTokenExchange globally).')
  tokenExchangeAudience: string?
  @description('Sessions used within this long are refreshed ahead of expiry (a .NET TimeSpan, d.hh:mm:ss). Default: the sweeper\'s, cut to the refresh token\'s lifetime where the provider announces it. Match the provider\'s idle timeout (Keycloak SSO Session Idle).')
  activityWindow: string?
  @description('Whether idle sessions are refreshed so their refresh token does not lapse from disuse. Default: yes, unless the provider announces when its refresh token dies.')
  keepAlive: bool?
}

@description('Environment name (azd passes AZURE_ENV_NAME). Part of every resource name.')
@minLength(1)
@maxLength(20)
param environmentName string

@description('Region of every resource; it must offer the Flex Consumption plan.')
param location string = resourceGroup().location

@description('OAuth providers the backend refreshes tokens with.')
@minLength(1)
param providers provider[]

@description('Name of the Key Vault secret holding the AES-256 token-encryption key (32 random bytes, base64).')
param encryptionKeySecretName string = 'token-encryption-key'

@description('NCRONTAB schedule of the sweeper (UTC).')
param sweeperSchedule string = '0 */5 * * * *'

@description('Storage queue session events go onto (the app reads it, or the EventWebhook function delivers from it). Its poison queue is <name>-poison.')
@minLength(3)
@maxLength(56)
param eventsQueueName string = 'sessionevents'

@description('Webhook each session event is POSTed to (https), signed with the secret eventsWebhookSecretName names. Empty: no webhook; the EventWebhook function is disabled and the app reads the queue.')
param eventsWebhookUrl string = ''

@description('NAME of the Key Vault secret holding the webhook signing secret (whsec_ + base64 of 24 to 64 random bytes), never the secret itself.')
param eventsWebhookSecretName string = 'events-webhook-secret'

@description('Browser origins allowed to call the API. Leave empty: the API is server-to-server, and a browser calling it would hold a function key.')
param corsAllowedOrigins string[] = []

@description('Require a Microsoft Entra ID token from one of entraAuthAllowedClientApplications (App Service Authentication) on top of the function key. On by default: function keys alone are not meant to guard production endpoints.')
param entraAuthEnabled bool = true

@description('Client id of the API\'s own app registration (needed when entraAuthEnabled).')
param entraAuthClientId string = ''

@description('Tenant that issues the callers\' tokens.')
param entraAuthTenantId string = tenant().tenantId

@description('Client ids of the applications allowed to call the API (required when entraAuthEnabled: an empty list admits every application in the tenant).')
param entraAuthAllowedClientApplications string[] = []

@description('Accepted token audiences. Empty: api://<entraAuthClientId>.')
param entraAuthAllowedAudiences string[] = []

@description('Object id of the user, group or pipeline that puts secrets into Key Vault (Key Vault Secrets Officer). Empty: none.')
param deployerPrincipalId string = ''

@allowed(['User', 'Group', 'ServicePrincipal'])
param deployerPrincipalType string = 'User'

@description('Let Storage and Key Vault accept requests from the internet as well as through their private endpoints. For a first trial only: infra/README.md says what it costs.')
param allowPublicNetworkAccess bool = false

@description('Address space of the virtual network the app and the private endpoints live in (at least a /23).')
param virtualNetworkAddressPrefix string = '10.40.0.0/16'

@description('Key Vault secret reads per hour by the app itself above which the unusual-secret-reads alert fires (reads by anyone else always do).')
@minValue(1)
param secretReadAlertThreshold int = 2000

@description('Action group resource ids the security alert notifies. Empty: it shows in Azure Monitor only.')
param alertActionGroupIds string[] = []

@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Most instances the plan runs. Also the sweeper\'s divisor: each queue worker instance gets sweeperProviderRequestsPerSecond / this, so all of them together stay within the provider\'s rate.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Provider token requests per second, per provider, from all sweeping together (at least maximumInstanceCount).')
@minValue(1)
@maxValue(10000)
param sweeperProviderRequestsPerSecond int = 50

param tags object = {}

var resourceToken = toLower(uniqueString(resourceGroup().id, environmentName, location))
var allTags = union(tags, { 'azd-env-name': environmentName })
var names = {
  identity: 'id-${environmentName}-${resourceToken}'
  storage: 'stfa${resourceToken}'
  keyVault: 'kv-fa-${resourceToken}'
  logAnalytics: 'log-${environmentName}-${resourceToken}'
  applicationInsights: 'appi-${environmentName}-${resourceToken}'
  plan: 'plan-${environmentName}-${resourceToken}'
  functionApp: 'func-${environmentName}-${resourceToken}'
  deploymentContainer: 'app-package'
  virtualNetwork: 'vnet-${environmentName}-${resourceToken}'
}

// What the Functions host itself keeps in blobs: function keys and leases (timer singleton, host id).
var hostContainers = ['azure-webjobs-hosts', 'azure-webjobs-secrets']

// An empty allowed list would let every application in the tenant through; without the API's own client id there is no
// audience to check. Both stop the deployment rather than deploy an open door.
var entraAuthClientIdChecked = entraAuthEnabled && empty(entraAuthClientId)
  ? fail('entraAuthEnabled is true but entraAuthClientId is empty: set the client id of the API\'s app registration (infra/README.md), or set entraAuthEnabled = false for a trial.')
  : entraAuthClientId
var sweeperProviderRequestsPerSecondChecked = sweeperProviderRequestsPerSecond < maximumInstanceCount
  ? fail('sweeperProviderRequestsPerSecond (${sweeperProviderRequestsPerSecond}) is below maximumInstanceCount (${maximumInstanceCount}): each sweep worker instance needs a whole request per second of the provider\'s rate.')
  : sweeperProviderRequestsPerSecond
var entraAuthAllowedClientApplicationsChecked = entraAuthEnabled && empty(entraAuthAllowedClientApplications)
  ? fail('entraAuthEnabled is true but entraAuthAllowedClientApplications is empty, which would admit every application in the tenant: list the client ids of the front ends\' back ends.')
  : entraAuthAllowedClientApplications

// Table names the app is configured with; the same names are created and scoped in the role assignments.
var sessionsTable = 'sessions'
var dueIndexTable = 'sessiondue'

// Session events and the poison queue the Functions host moves an undeliverable one to.
var eventQueues = [eventsQueueName, '${eventsQueueName}-poison']
var eventsWebhookUrlChecked = !empty(eventsWebhookUrl) && !startsWith(eventsWebhookUrl, 'https://')
  ? fail('eventsWebhookUrl must be an https URL.')
  : eventsWebhookUrl
// The sweeper's work-item queue (SweepQueueName) and the poison queue the Functions host moves failed items to.
var sweepQueue = 'functionsauth-sweep'
var sweepQueues = [sweepQueue, '${sweepQueue}-poison']
var appQueues = concat(eventQueues, sweepQueues)

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: names.identity
  location: location
  tags: allTags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.applicationInsights
    location: location
    tags: allTags
  }
}

// Refresh outcomes, provider latency, sweeper runs and reauth rate, from the telemetry the app exports.
module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  params: {
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    displayName: 'FunctionsAuth (${environmentName})'
    location: location
    tags: allTags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: names.storage
    deploymentContainerName: names.deploymentContainer
    hostContainerNames: hostContainers
    tableNames: [sessionsTable, dueIndexTable]
    queueNames: appQueues
    allowPublicNetworkAccess: allowPublicNetworkAccess
    location: location
    tags: allTags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyVault'
  params: {
    name: names.keyVault
    allowPublicNetworkAccess: allowPublicNetworkAccess
    location: location
    tags: allTags
  }
}

module network 'modules/network.bicep' = {
  name: 'network'
  params: {
    name: names.virtualNetwork
    addressPrefix: virtualNetworkAddressPrefix
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    location: location
    tags: allTags
  }
}

module diagnostics 'modules/diagnostics.bicep' = {
  name: 'diagnostics'
  params: {
    logAnalyticsName: monitoring.outputs.logAnalyticsName
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    appPrincipalId: identity.properties.principalId
    secretReadThreshold: secretReadAlertThreshold
    actionGroupIds: alertActionGroupIds
    location: location
    tags: allTags
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  params: {
    appPrincipalId: identity.properties.principalId
    storageAccountName: storage.outputs.name
    hostContainerNames: hostContainers
    deploymentContainerName: names.deploymentContainer
    tableNames: [sessionsTable, dueIndexTable]
    queueNames: appQueues
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    deployerPrincipalId: deployerPrincipalId
    deployerPrincipalType: deployerPrincipalType
    readsCertificates: !empty(filter(providers, p => !empty(p.?clientCertificateName ?? '')))
  }
}

// Read here rather than passed out of the monitoring module, so the connection string never appears as a deployment output.
resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: names.applicationInsights
}

// FunctionsAuth__Providers__<name>__<Field>, one setting per field the provider sets.
var providerSettings = reduce(
  providers,
  {},
  (settings, p) =>
    union(
      settings,
      toObject(
        filter(
          items({
            Kind: p.kind
            Issuer: p.?issuer ?? ''
            TenantId: p.?tenantId ?? ''
            Instance: p.?instance ?? ''
            ClientId: p.clientId
            ClientSecretName: p.?clientSecretName ?? ''
            Scopes: p.?scopes ?? ''
            AllowedScopes: p.?allowedScopes ?? ''
            AllowedResources: p.?allowedResources ?? ''
            ClientAuthentication: p.?clientAuthentication ?? ''
            ClientCertificateName: p.?clientCertificateName ?? ''
            ClientAssertionFormat: p.?clientAssertionFormat ?? ''
            SignOutRevocation: p.?signOutRevocation ?? ''
            TokenExchangeAudience: p.?tokenExchangeAudience ?? ''
            ActivityWindow: p.?activityWindow ?? ''
            KeepAlive: p.?keepAlive == null ? '' : string(p.?keepAlive)
          }),
          field => !empty(field.value)
        ),
        field => 'FunctionsAuth__Providers__${p.name}__${field.key}',
        field => field.value
      )
    )
)

var appSettings = union(
  {
    // Host storage through the app's identity (no AzureWebJobsStorage connection string).
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identity.properties.clientId
    AzureWebJobsStorage__blobServiceUri: storage.outputs.blobEndpoint
    // The queue triggers (EventWebhook, SweepWorker) read through the host's storage connection; the sweep planner
    // enqueues through it too.
    AzureWebJobsStorage__queueServiceUri: storage.outputs.queueEndpoint
    // DefaultAzureCredential in the app picks the user-assigned identity by this client id.
    AZURE_CLIENT_ID: identity.properties.clientId
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
    FunctionsAuth__KeyVaultUri: keyVault.outputs.uri
    FunctionsAuth__EncryptionKeySecretName: encryptionKeySecretName
    FunctionsAuth__Storage__TableServiceUri: storage.outputs.tableEndpoint
    FunctionsAuth__Storage__SessionsTable: sessionsTable
    FunctionsAuth__Storage__DueIndexTable: dueIndexTable
    FunctionsAuth__Storage__QueueServiceUri: storage.outputs.queueEndpoint
    // Sessions bound to the calling app's client id, from X-MS-CLIENT-PRINCIPAL (set by App Service Authentication,
    // which removes copies sent by clients); without authentication, one caller (a first trial with one front end).
    FunctionsAuth__Callers__Mode: entraAuthEnabled ? 'AppServiceAuthentication' : 'SingleCaller'
    SweeperSchedule: sweeperSchedule
    EventsQueueName: eventsQueueName
    // Without a webhook the function stays off, so events stay on the queue for the app to read.
    'AzureWebJobs.EventWebhook.Disabled': empty(eventsWebhookUrlChecked) ? 'true' : 'false'
    SweepQueueName: sweepQueue
    FunctionsAuth__Sweeper__MaxInstances: string(maximumInstanceCount)
    FunctionsAuth__Sweeper__ProviderRequestsPerSecond: string(sweeperProviderRequestsPerSecondChecked)
  },
  empty(eventsWebhookUrlChecked)
    ? {}
    : {
        FunctionsAuth__Events__WebhookUrl: eventsWebhookUrlChecked
        FunctionsAuth__Events__WebhookSecretName: eventsWebhookSecretName
      },
  providerSettings
)

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionApp'
  params: {
    name: names.functionApp
    planName: names.plan
    location: location
    tags: allTags
    identityId: identity.id
    deploymentContainerUrl: '${storage.outputs.blobEndpoint}${names.deploymentContainer}'
    appSettings: appSettings
    corsAllowedOrigins: corsAllowedOrigins
    virtualNetworkSubnetId: network.outputs.appSubnetId
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    entraAuth: {
      enabled: entraAuthEnabled
      tenantId: entraAuthTenantId
      clientId: entraAuthClientIdChecked
      allowedClientApplications: entraAuthAllowedClientApplicationsChecked
      allowedAudiences: empty(entraAuthAllowedAudiences) ? ['api://${entraAuthClientIdChecked}'] : entraAuthAllowedAudiences
    }
  }
  // The host reaches storage at its first start: the roles must exist by then.
  dependsOn: [
    rbac
  ]
}

output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_URI string = keyVault.outputs.uri
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_FUNCTIONS_IDENTITY_CLIENT_ID string = identity.properties.clientId
