using System.Text.RegularExpressions;
using FunctionsAuth.Infra.Tests.Framework;
using Xunit;

namespace FunctionsAuth.Infra.Tests;

[Collection(InfraCollection.Name)]
public sealed class FunctionAppTests(InfraFixture infra)
{
    [Theory]
    [InlineData("properties.httpsOnly", "true")]
    [InlineData("properties.siteConfig.minTlsVersion", "\"1.3\"")]
    [InlineData("properties.siteConfig.scmMinTlsVersion", "\"1.3\"")]
    [InlineData("properties.siteConfig.ftpsState", "\"Disabled\"")]
    [InlineData("properties.siteConfig.cors.supportCredentials", "false")]
    public void FunctionApp_KeepsTheSecurityBaseline(string path, string expected) =>
        Assert.Equal(expected, infra.Example.FunctionApp.At(path)?.GetRawText());

    [Fact]
    public void FunctionApp_RunsDotnetIsolated10OnFlexConsumption()
    {
        var plan = infra.Example.Single("Microsoft.Web/serverfarms");
        var app = infra.Example.FunctionApp;

        Assert.Equal("FC1", plan.String("sku.name"));
        Assert.Equal("FlexConsumption", plan.String("sku.tier"));
        Assert.Equal(Deployment.IdOf(plan), app.String("properties.serverFarmId"));
        Assert.Equal("dotnet-isolated", app.String("properties.functionAppConfig.runtime.name"));
        Assert.Equal("10.0", app.String("properties.functionAppConfig.runtime.version"));
    }

    [Fact]
    public void FunctionApp_RunsAndDeploysAsItsUserAssignedIdentity()
    {
        var identity = Deployment.IdOf(infra.Example.Single("Microsoft.ManagedIdentity/userAssignedIdentities"));
        var app = infra.Example.FunctionApp;

        Assert.Equal("UserAssigned", app.String("identity.type"));
        Assert.Equal([identity], app.At("identity.userAssignedIdentities")!.Value.EnumerateObject().Select(i => i.Name));
        Assert.Equal("blobContainer", app.String("properties.functionAppConfig.deployment.storage.type"));
        Assert.Equal("UserAssignedIdentity", app.String("properties.functionAppConfig.deployment.storage.authentication.type"));
        Assert.Equal(identity, app.String("properties.functionAppConfig.deployment.storage.authentication.userAssignedIdentityResourceId"));
    }

    [Fact]
    public void FunctionApp_DeploysFromAContainerOfItsStorageAccount()
    {
        var account = Deployment.IdOf(infra.Example.Single("Microsoft.Storage/storageAccounts"));
        var containers = infra.Example.OfType("Microsoft.Storage/storageAccounts/blobServices/containers")
            .Select(c => c.GetProperty("name").GetString()!.Split('/')[^1]);
        var packageUrl = infra.Example.FunctionApp.String("properties.functionAppConfig.deployment.storage.value")!;

        Assert.Contains($"reference('{account}',", packageUrl, StringComparison.Ordinal);
        Assert.Contains(".primaryEndpoints.blob", packageUrl, StringComparison.Ordinal);
        Assert.Single(containers, name => packageUrl.EndsWith($"'{name}')]", StringComparison.Ordinal));
    }

    [Fact]
    public void BasicPublishingCredentials_AreOffForFtpAndScm()
    {
        var policies = infra.Example.OfType("Microsoft.Web/sites/basicPublishingCredentialsPolicies")
            .ToDictionary(p => p.GetProperty("name").GetString()!.Split('/')[^1], p => p.Bool("properties.allow"));

        Assert.Equal(new Dictionary<string, bool?> { ["ftp"] = false, ["scm"] = false }, policies);
    }

    [Fact]
    public void Cors_AllowsNoOriginUnlessConfigured()
    {
        // Server-to-server: the example opens the API to no browser origin; an origin is a deliberate exception.
        Assert.Empty(infra.ExampleParameters.Strings("parameters.corsAllowedOrigins.value"));
        Assert.Empty(infra.Example.FunctionApp.Strings("properties.siteConfig.cors.allowedOrigins"));
        Assert.Equal(InfraFixture.Optional.CorsAllowedOrigins, infra.WithOptionalFeatures.FunctionApp.Strings("properties.siteConfig.cors.allowedOrigins"));
    }

    [Fact]
    public void ApplicationInsights_AcceptsOnlyEntraAuthenticatedTelemetryFromTheApp()
    {
        var component = infra.Example.Single("Microsoft.Insights/components");
        var settings = infra.Example.AppSettings;
        var clientId = settings["AZURE_CLIENT_ID"];

        Assert.True(component.Bool("properties.DisableLocalAuth"));
        Assert.Matches($@"^\[reference\('{Regex.Escape(Deployment.IdOf(component))}', '[0-9a-z-]+'\)\.ConnectionString\]$", settings["APPLICATIONINSIGHTS_CONNECTION_STRING"]);
        Assert.Equal($"[format('ClientId={{0}};Authorization=AAD', {clientId[1..^1]})]", settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]);
    }
}
