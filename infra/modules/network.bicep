@description('Virtual network name.')
param name string

param location string
param tags object

@description('Address space of the virtual network; the two subnets take its first two /24s.')
param addressPrefix string

@description('Storage account reached through private endpoints (blob, table, queue).')
param storageAccountName string

@description('Key Vault reached through a private endpoint.')
param keyVaultName string

// Flex Consumption integrates with a subnet delegated to Microsoft.App/environments; every outbound call of the app
// (storage, Key Vault, providers) then leaves through this network, so the private endpoints below are reachable.
var appSubnetName = 'app'
var privateEndpointSubnetName = 'private-endpoints'

// The public cloud's zones are privatelink.<service>.core.windows.net and privatelink.vaultcore.azure.net; derived
// from environment() so sovereign clouds get theirs.
var storageZones = {
  blob: 'privatelink.blob.${environment().suffixes.storage}'
  table: 'privatelink.table.${environment().suffixes.storage}'
  queue: 'privatelink.queue.${environment().suffixes.storage}'
}
var vaultZone = replace(environment().suffixes.keyvaultDns, '.vault.', 'privatelink.vaultcore.')

resource storage 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: storageAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyVaultName
}

resource network 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [addressPrefix]
    }
    subnets: [
      {
        name: appSubnetName
        properties: {
          addressPrefix: cidrSubnet(addressPrefix, 24, 0)
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: privateEndpointSubnetName
        properties: {
          addressPrefix: cidrSubnet(addressPrefix, 24, 1)
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }

  resource appSubnet 'subnets' existing = {
    name: appSubnetName
  }

  resource privateEndpointSubnet 'subnets' existing = {
    name: privateEndpointSubnetName
  }
}

resource storageDnsZones 'Microsoft.Network/privateDnsZones@2024-06-01' = [
  for service in items(storageZones): {
    name: service.value
    location: 'global'
    tags: tags
  }
]

resource vaultDnsZone 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  name: vaultZone
  location: 'global'
  tags: tags
}

resource storageDnsLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [
  for (service, i) in items(storageZones): {
    parent: storageDnsZones[i]
    name: name
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: network.id
      }
    }
  }
]

resource vaultDnsLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = {
  parent: vaultDnsZone
  name: name
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: network.id
    }
  }
}

resource storageEndpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [
  for (service, i) in items(storageZones): {
    name: 'pe-${storage.name}-${service.key}'
    location: location
    tags: tags
    properties: {
      subnet: {
        id: network::privateEndpointSubnet.id
      }
      privateLinkServiceConnections: [
        {
          name: '${storage.name}-${service.key}'
          properties: {
            privateLinkServiceId: storage.id
            groupIds: [service.key]
          }
        }
      ]
    }
  }
]

resource storageEndpointDns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [
  for (service, i) in items(storageZones): {
    parent: storageEndpoints[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: service.key
          properties: {
            privateDnsZoneId: storageDnsZones[i].id
          }
        }
      ]
    }
  }
]

resource vaultEndpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = {
  name: 'pe-${vault.name}-vault'
  location: location
  tags: tags
  properties: {
    subnet: {
      id: network::privateEndpointSubnet.id
    }
    privateLinkServiceConnections: [
      {
        name: '${vault.name}-vault'
        properties: {
          privateLinkServiceId: vault.id
          groupIds: ['vault']
        }
      }
    ]
  }

  resource dns 'privateDnsZoneGroups' = {
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: 'vault'
          properties: {
            privateDnsZoneId: vaultDnsZone.id
          }
        }
      ]
    }
  }
}

output appSubnetId string = network::appSubnet.id
