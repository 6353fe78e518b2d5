using System.Text.Json;
using System.Text.RegularExpressions;
using FunctionsAuth.Infra.Tests.Framework;
using Xunit;

namespace FunctionsAuth.Infra.Tests;

/// <summary>The Azure Monitor workbook: deployed next to the component, and charting the metrics the app really exports.</summary>
[Collection(InfraCollection.Name)]
public sealed partial class WorkbookTests(InfraFixture infra)
{
    [Fact]
    public void Workbook_IsDeployedOnTheWorkspaceBehindApplicationInsights()
    {
        var workbook = infra.Example.Single("Microsoft.Insights/workbooks");
        var component = infra.Example.Single("Microsoft.Insights/components");
        var workspace = infra.Example.Single("Microsoft.OperationalInsights/workspaces");

        Assert.Equal("shared", workbook.String("kind"));
        Assert.Equal("workbook", workbook.String("properties.category"));
        Assert.Equal(Deployment.Location, workbook.String("location"));
        Assert.Equal(Deployment.IdOf(workspace), component.String("properties.WorkspaceResourceId"));
        Assert.Equal(Deployment.IdOf(workspace), workbook.String("properties.sourceId"), ignoreCase: true);
    }

    [Theory]
    [InlineData("functionsauth.refresh.requests")]
    [InlineData("functionsauth.provider.request.duration")]
    [InlineData("functionsauth.sweeper.run.duration")]
    [InlineData("functionsauth.sweeper.sessions")]
    public void Workbook_ChartsTheDashboardMetrics(string metric)
    {
        Assert.Contains(Queries(), q => q.Contains($"\"{metric}\"", StringComparison.Ordinal));
    }

    [Fact]
    public void Workbook_ChartsProviderLatencyPercentilesAndReauthRate()
    {
        var queries = Queries();

        Assert.Contains(queries, q => q.Contains("AppDependencies", StringComparison.Ordinal)
            && q.Contains("percentile(DurationMs, 50)", StringComparison.Ordinal)
            && q.Contains("percentile(DurationMs, 99)", StringComparison.Ordinal));
        Assert.Contains(queries, q => q.Contains("reauth_rate", StringComparison.Ordinal) && q.Contains("\"invalid_grant\"", StringComparison.Ordinal));
    }

    [Fact]
    public void Workbook_ChartsTheServedStaleRateAndReauthByTheContractsCodes()
    {
        var queries = Queries();

        Assert.Contains(queries, q => q.Contains("\"functionsauth.refresh.requests\"", StringComparison.Ordinal)
            && q.Contains("\"served_stale\"", StringComparison.Ordinal)
            && q.Contains("\"served_from_storage\"", StringComparison.Ordinal));
        Assert.Contains(queries, q => q.Contains("\"functionsauth.refresh.requests\"", StringComparison.Ordinal) && q.Contains("\"reauth_required\"", StringComparison.Ordinal));

        // The outcome tag's values are the app's (RefreshOutcomes and the contract's error codes), never enum names.
        Assert.DoesNotContain(queries, q => q.Contains("\"ReauthRequired\"", StringComparison.Ordinal));
    }

    [Fact]
    public void Workbook_ChartsEveryMetricTheAppDefines()
    {
        var source = File.ReadAllText(Path.Combine(InfraFixture.RepositoryRoot, "src", "FunctionsAuth.Core", "Diagnostics", "FunctionsAuthMetrics.cs"));
        var defined = MetricName().Matches(source).Select(m => m.Groups[1].Value).ToHashSet();
        var queries = string.Join('\n', Queries());

        Assert.NotEmpty(defined);
        Assert.All(defined, metric => Assert.Contains($"\"{metric}\"", queries, StringComparison.Ordinal));
    }

    [Fact]
    public void Workbook_QueriesOnlyTheWorkspaceTables()
    {
        var content = QueryItems().ToList();

        Assert.NotEmpty(content);
        Assert.All(content, c => Assert.Equal("microsoft.operationalinsights/workspaces", c.GetProperty("resourceType").GetString()));
        Assert.All(content, c => Assert.Matches(@"^App(Metrics|Dependencies)\b", c.GetProperty("query").GetString()!));
    }

    private List<string> Queries() => [.. QueryItems().Select(c => c.GetProperty("query").GetString()!)];

    private IEnumerable<JsonElement> QueryItems()
    {
        var serialized = infra.Example.Single("Microsoft.Insights/workbooks").String("properties.serializedData");
        Assert.NotNull(serialized);
        var workbook = JsonDocument.Parse(serialized).RootElement.Clone();
        Assert.Equal("Notebook/1.0", workbook.GetProperty("version").GetString());
        return workbook.GetProperty("items").EnumerateArray()
            .Where(item => item.GetProperty("type").GetInt32() == 3)
            .Select(item => item.GetProperty("content"));
    }

    [GeneratedRegex("Create(?:Counter|Histogram)<[a-z]+>\\(\"(functionsauth\\.[a-z_.]+)\"")]
    private static partial Regex MetricName();
}
