using System.Text.Json;
using FunctionsAuth.Infra.Tests.Framework;
using Xunit;

namespace FunctionsAuth.Infra.Tests;

[Collection(InfraCollection.Name)]
public sealed class EntraAuthTests(InfraFixture infra)
{
    [Fact]
    public void EntraAuth_IsOffUnlessEnabled()
    {
        Assert.Null(AuthSettings(infra.Example));
        Assert.NotNull(AuthSettings(infra.WithOptionalFeatures));
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
