using System.Text.Json;
using FunctionsAuth.Infra.Tests.Framework;
using Xunit;

namespace FunctionsAuth.Infra.Tests;

/// <summary>Storage and Key Vault answer on private endpoints only, reached through the app's virtual network integration.</summary>
[Collection(InfraCollection.Name)]
public sealed class NetworkTests(InfraFixture infra)
{
    public static TheoryData<string> PrivateResources => ["Microsoft.Storage/storageAccounts", "Microsoft.KeyVault/vaults"];

    [Fact]
    public void FunctionApp_IntegratesWithASubnetDelegatedToFlexConsumption()
    {
        var network = infra.Example.Single("Microsoft.Network/virtualNetworks");
        var subnetId = infra.Example.FunctionApp.String("properties.virtualNetworkSubnetId")!;
        var subnet = Subnet(network, subnetId);

        Assert.StartsWith($"{Deployment.IdOf(network)}/subnets/", subnetId, StringComparison.Ordinal);
        Assert.Equal(["Microsoft.App/environments"], subnet.At("properties.delegations")!.Value.EnumerateArray().Select(d => d.String("properties.serviceName")));
    }

    [Theory]
    [MemberData(nameof(PrivateResources))]
    public void PublicNetworkAccess_IsOffByDefault(string type)
    {
        var resource = infra.Example.Single(type);

        Assert.Equal(JsonValueKind.False, infra.Template.At("parameters.allowPublicNetworkAccess.defaultValue")?.ValueKind);
        Assert.Equal("Disabled", resource.String("properties.publicNetworkAccess"));
        Assert.Equal("Deny", resource.String("properties.networkAcls.defaultAction"));
        Assert.Equal("None", resource.String("properties.networkAcls.bypass"));
    }

    [Theory]
    [MemberData(nameof(PrivateResources))]
    public void PublicNetworkAccess_OpensOnlyWhenAskedFor(string type)
    {
        var resource = infra.FirstTrial.Single(type);

        Assert.Equal("Enabled", resource.String("properties.publicNetworkAccess"));
        Assert.Equal("Allow", resource.String("properties.networkAcls.defaultAction"));
    }

    [Theory]
    [InlineData("Microsoft.Storage/storageAccounts", "blob", "privatelink.blob.")]
    [InlineData("Microsoft.Storage/storageAccounts", "table", "privatelink.table.")]
    [InlineData("Microsoft.Storage/storageAccounts", "queue", "privatelink.queue.")]
    [InlineData("Microsoft.KeyVault/vaults", "vault", "privatelink.vaultcore.")]
    public void PrivateEndpoint_ReachesTheServiceFromTheEndpointSubnet_WithItsDnsZone(string type, string groupId, string zonePrefix)
    {
        var target = Deployment.IdOf(infra.Example.Single(type));
        var network = infra.Example.Single("Microsoft.Network/virtualNetworks");
        var endpoint = Assert.Single(infra.Example.OfType("Microsoft.Network/privateEndpoints"), e =>
            e.At("properties.privateLinkServiceConnections")!.Value.EnumerateArray().Any(c =>
                c.String("properties.privateLinkServiceId") == target && c.Strings("properties.groupIds").SequenceEqual([groupId])));
        var subnet = Subnet(network, endpoint.String("properties.subnet.id")!);
        var zoneGroup = Assert.Single(infra.Example.OfType("Microsoft.Network/privateEndpoints/privateDnsZoneGroups"), g =>
            Deployment.IdOf(g).StartsWith($"{Deployment.IdOf(endpoint)}/", StringComparison.Ordinal));
        var zoneIds = zoneGroup.At("properties.privateDnsZoneConfigs")!.Value.EnumerateArray().Select(c => c.String("properties.privateDnsZoneId")!).ToList();

        Assert.Empty(subnet.Strings("properties.delegations"));
        var zoneId = Assert.Single(zoneIds);
        var zone = Assert.Single(infra.Example.OfType("Microsoft.Network/privateDnsZones"), z => Deployment.IdOf(z) == zoneId);
        Assert.Contains(zonePrefix, zone.GetProperty("name").GetString()!, StringComparison.Ordinal);
    }

    [Fact]
    public void PrivateDnsZones_AreEachLinkedToTheVirtualNetwork()
    {
        var network = Deployment.IdOf(infra.Example.Single("Microsoft.Network/virtualNetworks"));
        var zones = infra.Example.OfType("Microsoft.Network/privateDnsZones").Select(z => z.GetProperty("name").GetString()!).ToList();
        var links = infra.Example.OfType("Microsoft.Network/privateDnsZones/virtualNetworkLinks").ToList();

        Assert.Equal(4, zones.Count);
        Assert.All(zones, zone =>
        {
            // Names of zones are computed from environment() (sovereign clouds); a link's name is "<zone>/<link>".
            var link = Assert.Single(links, l => l.GetProperty("name").GetString()!.Contains(zone[1..^1], StringComparison.Ordinal));
            Assert.Equal(network, link.String("properties.virtualNetwork.id"));
            Assert.False(link.Bool("properties.registrationEnabled"));
        });
    }

    private static JsonElement Subnet(JsonElement network, string subnetId)
    {
        var name = subnetId[(subnetId.LastIndexOf('/') + 1)..];
        return Assert.Single(network.At("properties.subnets")!.Value.EnumerateArray(), s => s.GetProperty("name").GetString() == name);
    }
}
