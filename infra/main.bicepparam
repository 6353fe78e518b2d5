using 'main.bicep'

// Example values. azd fills the environment variables; with az deployment group create, export them or edit here.
param environmentName = readEnvironmentVariable('AZURE_ENV_NAME', 'funcauth-dev')
param location = readEnvironmentVariable('AZURE_LOCATION', 'swedencentral')
param deployerPrincipalId = readEnvironmentVariable('AZURE_PRINCIPAL_ID', '')

// Secrets are named here, never given: put their values into Key Vault afterwards (infra/README.md).
param providers = [
  {
    name: 'google'
    kind: 'Google'
    clientId: '123456789012-example.apps.googleusercontent.com'
    clientSecretName: 'google-client-secret'
    scopes: 'openid email profile'
  }
  {
    name: 'entra'
    kind: 'Entra'
    tenantId: '00000000-0000-0000-0000-000000000000'
    clientId: '11111111-1111-1111-1111-111111111111'
    clientSecretName: 'entra-client-secret'
    scopes: 'openid offline_access User.Read'
  }
  {
    name: 'corp'
    kind: 'Oidc'
    issuer: 'https://login.example.com/'
    clientId: 'functionsauth'
    clientSecretName: 'corp-client-secret'
  }
]

param encryptionKeySecretName = 'token-encryption-key'
param sweeperSchedule = '0 */5 * * * *'

// App Service Authentication is on by default: only these client applications get through, each with an Entra ID token
// for api://<entraAuthClientId> as well as the function key. The values below are placeholders: a deployment with them
// admits nobody. Set your own (azd env set FUNCTIONSAUTH_API_CLIENT_ID ..., FUNCTIONSAUTH_ALLOWED_CLIENT_IDS id1,id2),
// or, for a first trial only, entraAuthEnabled = false.
param entraAuthEnabled = true
param entraAuthClientId = readEnvironmentVariable('FUNCTIONSAUTH_API_CLIENT_ID', '22222222-2222-2222-2222-222222222222')
param entraAuthAllowedClientApplications = split(readEnvironmentVariable('FUNCTIONSAUTH_ALLOWED_CLIENT_IDS', '33333333-3333-3333-3333-333333333333'), ',')

// Storage and Key Vault answer only on their private endpoints. true opens them to the internet for a first trial
// (infra/README.md says what that costs).
param allowPublicNetworkAccess = false
