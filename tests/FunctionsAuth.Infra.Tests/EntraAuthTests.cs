using System.Text.Json;
using FunctionsAuth.Infra.Tests.Framework;
using Xunit;

namespace FunctionsAuth.Infra.Tests;

[Collection(InfraCollection.Name)]
public sealed class EntraAuthTests(InfraFixture infra)
{
    [Fact]
    public void EntraAuth_IsOnByDefault_AndOffOnlyWhenSwitchedOff()
    {
        Assert.Equal(JsonValueKind.True, infra.Template.At("parameters.entraAuthEnabled.defaultValue")?.ValueKind);
        Assert.NotNull(AuthSettings(infra.Example));
        Assert.NotNull(AuthSettings(infra.WithOptionalFeatures));
        Assert.Null(AuthSettings(infra.FirstTrial));
    }

    [Fact]
    public void CallerBinding_FollowsEntraAuth_ClientIdOfTheCallingAppWhenOn_OneCallerWhenOff()
    {
        Assert.Equal("AppServiceAuthentication", infra.Example.AppSettings["FunctionsAuth__Callers__Mode"]);
        Assert.Equal("AppServiceAuthentication", infra.WithOptionalFeatures.AppSettings["FunctionsAuth__Callers__Mode"]);
        Assert.Equal("SingleCaller", infra.FirstTrial.AppSettings["FunctionsAuth__Callers__Mode"]);
    }

    [Theory]
    [InlineData("no-allowed-clients", "entraAuthAllowedClientApplications is empty")]
    [InlineData("no-api-client-id", "entraAuthClientId is empty")]
    public void EntraAuth_OnWithoutItsSettings_StopsTheDeployment(string parameters, string reason)
    {
        var snapshot = infra.RefusedSnapshots[parameters];

        Assert.NotEqual(0, snapshot.ExitCode);
        Assert.Contains(reason, snapshot.Diagnostics, StringComparison.Ordinal);
    }

    [Fact]
    public void EntraAuth_ExampleParameters_ListTheirClientApplications()
    {
        var example = infra.ExampleParameters.Strings("parameters.entraAuthAllowedClientApplications.value");
        var entra = AuthSettings(infra.Example)!.Value.At("properties.identityProviders.azureActiveDirectory")!.Value;

        Assert.NotEmpty(example);
        Assert.Equal(example, entra.Strings("validation.defaultAuthorizationPolicy.allowedApplications"));
    }

    [Fact]
    public void EntraAuth_WhenEnabled_RejectsCallersWithoutAToken()
    {
        var auth = AuthSettings(infra.WithOptionalFeatures)!.Value;

        Assert.True(auth.Bool("properties.platform.enabled"));
        Assert.True(auth.Bool("properties.globalValidation.requireAuthentication"));
        Assert.Equal("Return401", auth.String("properties.globalValidation.unauthenticatedClientAction"));
        Assert.Equal(["/api/health"], auth.Strings("properties.globalValidation.excludedPaths"));
        Assert.True(auth.Bool("properties.httpSettings.requireHttps"));
    }

    [Fact]
    public void EntraAuth_WhenEnabled_AllowsOnlyTheListedClientApplications()
    {
        var entra = AuthSettings(infra.WithOptionalFeatures)!.Value.At("properties.identityProviders.azureActiveDirectory")!.Value;

        Assert.True(entra.Bool("enabled"));
        Assert.Equal(InfraFixture.Optional.ApiClientId, entra.String("registration.clientId"));
        Assert.Equal(InfraFixture.Optional.AllowedClientApplications, entra.Strings("validation.defaultAuthorizationPolicy.allowedApplications"));
        Assert.Equal([$"api://{InfraFixture.Optional.ApiClientId}"], entra.Strings("validation.allowedAudiences"));
    }

    private static JsonElement? AuthSettings(Deployment deployment) =>
        deployment.OfType("Microsoft.Web/sites/config")
            .Where(c => c.GetProperty("name").GetString()!.EndsWith("/authsettingsV2", StringComparison.Ordinal))
            .Select(c => (JsonElement?)c)
            .SingleOrDefault();
}
