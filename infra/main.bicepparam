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
param corsAllowedOrigins = [
  'https://app.example.com'
]

// Optional: require an Entra ID token from these client applications on top of the function key.
param entraAuthEnabled = false
param entraAuthClientId = ''
param entraAuthAllowedClientApplications = []
