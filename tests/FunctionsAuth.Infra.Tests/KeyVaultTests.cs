using FunctionsAuth.Infra.Tests.Framework;
using Xunit;

namespace FunctionsAuth.Infra.Tests;

[Collection(InfraCollection.Name)]
public sealed class KeyVaultTests(InfraFixture infra)
{
    [Theory]
    [InlineData("properties.enableRbacAuthorization", "true")]
    [InlineData("properties.enableSoftDelete", "true")]
    [InlineData("properties.enablePurgeProtection", "true")]
    [InlineData("properties.enabledForTemplateDeployment", "false")]
    public void KeyVault_KeepsTheSecurityBaseline(string path, string expected)
    {
        var vault = infra.Example.Single("Microsoft.KeyVault/vaults");

        Assert.Equal(expected, vault.At(path)?.GetRawText());
    }

    [Fact]
    public void KeyVault_GrantsAccessThroughRbacOnly()
    {
        var vault = infra.Example.Single("Microsoft.KeyVault/vaults");

        Assert.Empty(vault.Strings("properties.accessPolicies"));
    }

    [Fact]
    public void KeyVault_KeepsDeletedSecretsForAtLeastSevenDays()
    {
        var vault = infra.Example.Single("Microsoft.KeyVault/vaults");

        Assert.InRange(vault.At("properties.softDeleteRetentionInDays")!.Value.GetInt32(), 7, 90);
    }
}
