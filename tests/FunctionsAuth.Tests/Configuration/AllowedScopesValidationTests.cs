using FunctionsAuth.Configuration;

namespace FunctionsAuth.Tests.Configuration;

/// <summary><c>Providers:&lt;name&gt;:AllowedScopes</c> and <c>AllowedResources</c>, checked at start.</summary>
public sealed class AllowedScopesValidationTests
{
    [Theory]
    [InlineData(null, null)]
    [InlineData("https://graph.microsoft.com/.default api://app/.default", null)]
    [InlineData("api email", "https://api.example/ urn:example:resource")]
    public void Validate_ScopeTokensAndAbsoluteUris_Accepted(string? scopes, string? resources)
    {
        var result = new FunctionsAuthOptionsValidator().Validate(null, OptionsWith(scopes, resources));

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Theory]
    [InlineData("api \"email\"", null, "FunctionsAuth:Providers:demo:AllowedScopes")]
    [InlineData(null, "https://api.example/#top", "FunctionsAuth:Providers:demo:AllowedResources entry 'https://api.example/#top'")]
    [InlineData(null, "relative/path", "FunctionsAuth:Providers:demo:AllowedResources entry 'relative/path'")]
    public void Validate_Malformed_RefusedNamingTheSetting(string? scopes, string? resources, string expected)
    {
        var result = new FunctionsAuthOptionsValidator().Validate(null, OptionsWith(scopes, resources));

        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, failure => failure.StartsWith(expected, StringComparison.Ordinal));
    }

    private static FunctionsAuthOptions OptionsWith(string? scopes, string? resources) => new()
    {
        Storage = { ConnectionString = "UseDevelopmentStorage=true" },
        Secrets = { ["token-encryption-key"] = Convert.ToBase64String(new byte[32]) },
        Providers =
        {
            ["demo"] = new ProviderOptions { Issuer = new Uri("https://login.example"), ClientId = "app", AllowedScopes = scopes, AllowedResources = resources },
        },
    };
}
