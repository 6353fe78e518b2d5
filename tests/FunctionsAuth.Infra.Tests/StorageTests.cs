using FunctionsAuth.Configuration;
using FunctionsAuth.Infra.Tests.Framework;
using Xunit;

namespace FunctionsAuth.Infra.Tests;

[Collection(InfraCollection.Name)]
public sealed class StorageTests(InfraFixture infra)
{
    [Theory]
    [InlineData("properties.allowSharedKeyAccess", "false")]
    [InlineData("properties.allowBlobPublicAccess", "false")]
    // The highest Storage accepts: TLS1_3 is not an allowed minimum (modules/storage.bicep).
    [InlineData("properties.minimumTlsVersion", "\"TLS1_2\"")]
    [InlineData("properties.supportsHttpsTrafficOnly", "true")]
    [InlineData("properties.defaultToOAuthAuthentication", "true")]
    public void StorageAccount_KeepsTheSecurityBaseline(string path, string expected)
    {
        var account = infra.Example.Single("Microsoft.Storage/storageAccounts");

        Assert.Equal(expected, account.At(path)?.GetRawText());
    }

    [Fact]
    public void StorageAccount_IsLockedAgainstDeletion()
    {
        var account = Deployment.IdOf(infra.Example.Single("Microsoft.Storage/storageAccounts"));
        var locks = infra.Example.OfType("Microsoft.Authorization/locks").ToList();

        var lockOnAccount = Assert.Single(locks);
        Assert.Equal($"{account}/providers/Microsoft.Authorization/locks/{lockOnAccount.GetProperty("name").GetString()}", Deployment.IdOf(lockOnAccount));
        Assert.Equal("CanNotDelete", lockOnAccount.String("properties.level"));
    }

    [Fact]
    public void HostContainers_AreCreatedByTheTemplate()
    {
        // The app's identity is scoped to these containers and cannot create them itself.
        var containers = infra.Example.OfType("Microsoft.Storage/storageAccounts/blobServices/containers")
            .Select(c => c.GetProperty("name").GetString()!.Split('/')[^1])
            .Order();

        Assert.Equal(["app-package", "azure-webjobs-hosts", "azure-webjobs-secrets"], containers);
    }

    [Fact]
    public void SweepQueues_AreCreatedByTheTemplate_TheOneTheAppIsToldAndItsPoisonQueue()
    {
        // The app's identity is scoped to these queues and cannot create them itself.
        var queues = infra.Example.OfType("Microsoft.Storage/storageAccounts/queueServices/queues")
            .Select(c => c.GetProperty("name").GetString()!.Split('/')[^1])
            .Order();
        var configured = infra.Example.AppSettings[SweeperOptions.QueueNameSetting];

        Assert.Superset(new HashSet<string> { configured, configured + "-poison" }, queues.ToHashSet());
        Assert.Equal(SweeperOptions.DefaultQueueName, configured);
    }

    [Fact]
    public void BlobContainers_AreNotPublic()
    {
        var containers = infra.Example.OfType("Microsoft.Storage/storageAccounts/blobServices/containers").ToList();

        Assert.NotEmpty(containers);
        Assert.All(containers, c => Assert.Equal("None", c.String("properties.publicAccess")));
    }

    [Fact]
    public void Tables_ExistForEveryConfiguredTableName()
    {
        var tableSettings = RequiredSettings.All()
            .Where(s => s.Property.DeclaringType == typeof(StorageOptions) && s.Property.Name.EndsWith("Table", StringComparison.Ordinal))
            .Select(s => infra.Example.AppSettings[s.Name])
            .ToHashSet();
        var tables = infra.Example.OfType("Microsoft.Storage/storageAccounts/tableServices/tables")
            .Select(t => t.GetProperty("name").GetString()!.Split('/')[^1])
            .ToHashSet();

        Assert.NotEmpty(tableSettings);
        Assert.Equal(tableSettings, tables);
    }
}
