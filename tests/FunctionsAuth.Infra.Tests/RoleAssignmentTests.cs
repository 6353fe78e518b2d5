using System.Text.RegularExpressions;
using FunctionsAuth.Infra.Tests.Framework;
using Xunit;

namespace FunctionsAuth.Infra.Tests;

[Collection(InfraCollection.Name)]
public sealed partial class RoleAssignmentTests(InfraFixture infra)
{
    private const string StorageBlobDataOwner = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b";
    private const string StorageBlobDataContributor = "ba92f5b4-2d11-453d-a403-e96b0029c9fe";
    private const string StorageTableDataContributor = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3";
    private const string StorageQueueDataContributor = "974c5e8b-45b9-4653-ba55-5f855dd0fb88";
    private const string KeyVaultSecretsUser = "4633458b-17de-408a-b874-0445c86b69e6";
    private const string KeyVaultSecretsOfficer = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7";

    // Only where a provider signs private_key_jwt assertions with a Key Vault certificate (the optional parameters' 'corp').
    private const string KeyVaultCertificateUser = "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba";

    // Not one of the issue's three: Application Insights with local auth off accepts telemetry only from an identity
    // holding it (infra/README.md).
    private const string MonitoringMetricsPublisher = "3913510d-42f4-4e42-8a64-420c390055eb";

    private static readonly string[] AppRoles = [StorageBlobDataOwner, StorageBlobDataContributor, StorageTableDataContributor, StorageQueueDataContributor, KeyVaultSecretsUser, MonitoringMetricsPublisher];

    [Fact]
    public void App_GetsExactlyTheLeastPrivilegeRoles()
    {
        var identity = AppPrincipal(infra.Example);

        Assert.Equal(AppRoles.Order(), infra.Example.RoleAssignments.Select(a => a.RoleDefinitionId).Distinct().Order());
        Assert.All(infra.Example.RoleAssignments, a => Assert.Equal(identity, a.PrincipalId));
    }

    [Fact]
    public void AppRoles_AreScopedToTheResourceTheyServe()
    {
        var example = infra.Example;
        var expected = new Dictionary<string, string[]>
        {
            [StorageBlobDataOwner] = [Container(example, "azure-webjobs-hosts"), Container(example, "azure-webjobs-secrets")],
            [StorageBlobDataContributor] = [Container(example, "app-package")],
            [StorageTableDataContributor] = [.. example.OfType("Microsoft.Storage/storageAccounts/tableServices/tables").Select(Deployment.IdOf).Order()],
            [StorageQueueDataContributor] = [.. example.OfType("Microsoft.Storage/storageAccounts/queueServices/queues").Select(Deployment.IdOf).Order()],
            [KeyVaultSecretsUser] = [Deployment.IdOf(example.Single("Microsoft.KeyVault/vaults"))],
            [MonitoringMetricsPublisher] = [Deployment.IdOf(example.Single("Microsoft.Insights/components"))],
        };

        var actual = example.RoleAssignments
            .GroupBy(a => a.RoleDefinitionId)
            .ToDictionary(g => g.Key, g => g.Select(a => a.Scope).Order().ToArray());

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void BlobRoles_AreScopedToContainers_NeverToTheAccount()
    {
        var account = Deployment.IdOf(infra.Example.Single("Microsoft.Storage/storageAccounts"));
        var blobRoles = infra.Example.RoleAssignments.Where(a => a.RoleDefinitionId is StorageBlobDataOwner or StorageBlobDataContributor).ToList();

        Assert.Equal(3, blobRoles.Count);
        Assert.All(blobRoles, a => Assert.StartsWith($"{account}/blobServices/default/containers/", a.Scope, StringComparison.Ordinal));
    }

    [Fact]
    public void DeploymentContainer_IsTheOnlyOneTheAppMayWriteWithoutOwnership()
    {
        // Flex Consumption's one-deploy writes the package as the app's identity: Contributor, not Owner, and only there.
        var contributor = Assert.Single(infra.Example.RoleAssignments, a => a.RoleDefinitionId == StorageBlobDataContributor);
        var packageUrl = infra.Example.FunctionApp.String("properties.functionAppConfig.deployment.storage.value")!;

        Assert.EndsWith("/containers/app-package", contributor.Scope, StringComparison.Ordinal);
        Assert.EndsWith("'app-package')]", packageUrl, StringComparison.Ordinal);
        Assert.DoesNotContain(infra.Example.RoleAssignments, a => a.RoleDefinitionId == StorageBlobDataOwner && a.Scope == contributor.Scope);
    }

    [Fact]
    public void RoleAssignments_AreNamedAfterScopePrincipalAndRole()
    {
        Assert.All(infra.Example.RoleAssignments, a =>
        {
            var name = AssignmentName().Match(a.Name);
            Assert.True(name.Success, a.Name);
            Assert.Equal(a.Scope, name.Groups["scope"].Value);
            Assert.Equal(a.PrincipalId, $"[{name.Groups["principal"].Value}]");
            Assert.Equal(a.RoleDefinitionId, name.Groups["role"].Value);
        });
    }

    [Fact]
    public void Deployer_GetsOnlySecretsOfficerOnTheVault_AndOnlyWhenNamed()
    {
        var optional = infra.WithOptionalFeatures;
        var deployer = Assert.Single(optional.RoleAssignments, a => a.PrincipalId == InfraFixture.Optional.DeployerPrincipalId);
        var assignment = optional.OfType("Microsoft.Authorization/roleAssignments").Single(r => r.String("properties.principalId") == deployer.PrincipalId);

        Assert.Equal(KeyVaultSecretsOfficer, deployer.RoleDefinitionId);
        Assert.Equal(Deployment.IdOf(optional.Single("Microsoft.KeyVault/vaults")), deployer.Scope);
        Assert.Equal("Group", assignment.String("properties.principalType"));
        Assert.Equal(AppRoles.Append(KeyVaultSecretsOfficer).Append(KeyVaultCertificateUser).Order(), optional.RoleAssignments.Select(a => a.RoleDefinitionId).Distinct().Order());
        Assert.DoesNotContain(infra.Example.RoleAssignments, a => a.RoleDefinitionId == KeyVaultSecretsOfficer);
    }

    [Fact]
    public void QueueRoles_AreContributorOnEachOfTheAppsQueues_AndNothingOnTheAccount()
    {
        var account = Deployment.IdOf(infra.Example.Single("Microsoft.Storage/storageAccounts"));
        var queues = Queues(infra.Example);
        var queueRoles = infra.Example.RoleAssignments.Where(a => a.RoleDefinitionId == StorageQueueDataContributor).ToList();

        // Session events and sweep work items, each with its poison queue: one Contributor assignment per queue
        // (Reader + Message Processor cannot update a failed message's visibility; Sender cannot create the poison queue).
        Assert.Equal(
            new[] { "functionsauth-sweep", "functionsauth-sweep-poison", "sessionevents", "sessionevents-poison" },
            queues.Select(q => q[(q.LastIndexOf('/') + 1)..]).Order());
        Assert.All(queues, q => Assert.StartsWith($"{account}/queueServices/default/queues/", q, StringComparison.Ordinal));
        Assert.Equal(queues, queueRoles.Select(a => a.Scope).Order());
        Assert.DoesNotContain(infra.Example.RoleAssignments, a => a.Scope == account && a.RoleDefinitionId == StorageQueueDataContributor);
    }

    private static string[] Queues(Deployment deployment) =>
        [.. deployment.OfType("Microsoft.Storage/storageAccounts/queueServices/queues").Select(Deployment.IdOf).Order()];

    [Fact]
    public void CertificateUser_OnlyWhereAProviderSignsWithACertificate_ForTheAppOnTheVault()
    {
        var optional = infra.WithOptionalFeatures;
        var assignment = Assert.Single(optional.RoleAssignments, a => a.RoleDefinitionId == KeyVaultCertificateUser);

        Assert.Equal(AppPrincipal(optional), assignment.PrincipalId);
        Assert.Equal(Deployment.IdOf(optional.Single("Microsoft.KeyVault/vaults")), assignment.Scope);
        Assert.DoesNotContain(infra.Example.RoleAssignments, a => a.RoleDefinitionId == KeyVaultCertificateUser);
    }

    private static string Container(Deployment deployment, string name) =>
        Deployment.IdOf(deployment.OfType("Microsoft.Storage/storageAccounts/blobServices/containers").Single(c => c.GetProperty("name").GetString()!.EndsWith($"/{name}", StringComparison.Ordinal)));

    private static string AppPrincipal(Deployment deployment)
    {
        var identity = Deployment.IdOf(deployment.Single("Microsoft.ManagedIdentity/userAssignedIdentities"));
        var principals = deployment.RoleAssignments.Select(a => a.PrincipalId).Where(p => p.Contains(identity, StringComparison.Ordinal)).Distinct();
        var principal = Assert.Single(principals);
        Assert.EndsWith(").principalId]", principal, StringComparison.Ordinal);
        return principal;
    }

    [GeneratedRegex(@"^\[guid\('(?<scope>[^']+)', (?<principal>.+), '(?<role>[0-9a-f-]{36})'\)\]$")]
    private static partial Regex AssignmentName();
}
