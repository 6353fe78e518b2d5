using FunctionsAuth.Infra.Tests.Framework;
using Xunit;

namespace FunctionsAuth.Infra.Tests;

/// <summary>Who read which secret, and every table and blob operation, end up in Log Analytics; unusual secret reads alert.</summary>
[Collection(InfraCollection.Name)]
public sealed class DiagnosticsTests(InfraFixture infra)
{
    private const string DiagnosticSettings = "/providers/Microsoft.Insights/diagnosticSettings/";

    [Fact]
    public void DiagnosticSettings_SendKeyVaultAuditAndTableAndBlobLogsToTheWorkspace()
    {
        var example = infra.Example;
        var workspace = Deployment.IdOf(example.Single("Microsoft.OperationalInsights/workspaces"));
        var account = Deployment.IdOf(example.Single("Microsoft.Storage/storageAccounts"));
        string[] storageLogs = ["StorageDelete", "StorageRead", "StorageWrite"];
        var expected = new Dictionary<string, string[]>
        {
            [Deployment.IdOf(example.Single("Microsoft.KeyVault/vaults"))] = ["AuditEvent"],
            [$"{account}/tableServices/default"] = storageLogs,
            [$"{account}/blobServices/default"] = storageLogs,
        };

        var settings = example.OfType("Microsoft.Insights/diagnosticSettings").ToList();
        var actual = settings.ToDictionary(
            s => Deployment.IdOf(s)[..Deployment.IdOf(s).IndexOf(DiagnosticSettings, StringComparison.Ordinal)],
            s => s.At("properties.logs")!.Value.EnumerateArray().Where(l => l.Bool("enabled") == true).Select(l => l.String("category")!).Order().ToArray());

        Assert.Equal(expected, actual);
        Assert.All(settings, s => Assert.Equal(workspace, s.String("properties.workspaceId")));
    }

    [Fact]
    public void SecretReadAlert_WatchesKeyVaultReadsByAnyoneButTheApp()
    {
        var example = infra.Example;
        var rule = example.Single("Microsoft.Insights/scheduledQueryRules");
        var criterion = Assert.Single(rule.At("properties.criteria.allOf")!.Value.EnumerateArray());
        var query = criterion.String("query")!;
        var appPrincipal = example.RoleAssignments.Single(a => a.RoleDefinitionId == "4633458b-17de-408a-b874-0445c86b69e6").PrincipalId;

        Assert.Equal("LogAlert", rule.String("kind"));
        Assert.True(rule.Bool("properties.enabled"));
        Assert.InRange(rule.At("properties.severity")!.Value.GetInt32(), 0, 1);
        Assert.Equal([Deployment.IdOf(example.Single("Microsoft.OperationalInsights/workspaces"))], rule.Strings("properties.scopes"));
        Assert.Contains("AuditEvent", query, StringComparison.Ordinal);
        Assert.Contains("'SecretGet'", query, StringComparison.Ordinal);
        Assert.Contains("caller != app", query, StringComparison.Ordinal);

        // The app's own identity is the one expected reader: the query is built with its principal id.
        Assert.Contains(appPrincipal[1..^1], query, StringComparison.Ordinal);
        Assert.Equal("GreaterThan", criterion.String("operator"));
        Assert.Equal(0, criterion.At("threshold")!.Value.GetInt32());
    }
}
