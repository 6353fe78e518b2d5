param name string
param planName string
param location string
param tags object

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Blob container URL the Flex Consumption plan deploys the app package from.')
param deploymentContainerUrl string

@description('Every app setting, name to value. Values are configuration, never secrets.')
param appSettings object

param corsAllowedOrigins string[]

@description('Subnet (delegated to Microsoft.App/environments) the app\'s outbound traffic leaves through, to reach Storage and Key Vault on their private endpoints.')
param virtualNetworkSubnetId string

@allowed([512, 2048, 4096])
param instanceMemoryMB int

@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@description('App Service Authentication with Microsoft Entra ID in front of the function keys.')
param entraAuth {
  enabled: bool
  tenantId: string
  @description('Client id of this API\'s app registration.')
  clientId: string
  @description('Client ids of the applications allowed to call the API.')
  allowedClientApplications: string[]
  allowedAudiences: string[]
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    virtualNetworkSubnetId: virtualNetworkSubnetId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      runtime: {
        name: 'dotnet-isolated'
        version: '10.0'
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
    }
    siteConfig: {
      // Callers are servers (front ends' back ends): every current TLS stack speaks 1.3.
      minTlsVersion: '1.3'
      scmMinTlsVersion: '1.3'
      ftpsState: 'Disabled'
      http20Enabled: true
      // Server-to-server API: a browser calling it would hold a function key. Origins only for a deliberate exception.
      cors: {
        allowedOrigins: corsAllowedOrigins
        supportCredentials: false
      }
      appSettings: [
        for setting in items(appSettings): {
          name: setting.key
          value: setting.value
        }
      ]
    }
  }

  // Deployments authenticate with Entra ID (azd, az functionapp deploy); no publishing user names or passwords.
  resource ftpPublishing 'basicPublishingCredentialsPolicies' = {
    name: 'ftp'
    properties: {
      allow: false
    }
  }

  resource scmPublishing 'basicPublishingCredentialsPolicies' = {
    name: 'scm'
    properties: {
      allow: false
    }
  }

  // Callers then need an Entra token from one of the allowed client applications as well as a function key.
  // /api/health stays anonymous, as the HTTP contract says.
  resource authentication 'config' = if (entraAuth.enabled) {
    name: 'authsettingsV2'
    properties: {
      platform: {
        enabled: true
      }
      globalValidation: {
        requireAuthentication: true
        unauthenticatedClientAction: 'Return401'
        excludedPaths: [
          '/api/health'
        ]
      }
      httpSettings: {
        requireHttps: true
      }
      identityProviders: {
        azureActiveDirectory: {
          enabled: true
          registration: {
            clientId: entraAuth.clientId
            openIdIssuer: '${environment().authentication.loginEndpoint}${entraAuth.tenantId}/v2.0'
          }
          validation: {
            allowedAudiences: entraAuth.allowedAudiences
            defaultAuthorizationPolicy: {
              allowedApplications: entraAuth.allowedClientApplications
            }
          }
        }
      }
      login: {
        tokenStore: {
          enabled: false
        }
      }
    }
  }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
