using System.Net;
using Azure.Core;
using Azure.Identity;
using FunctionsAuth.OAuth;
using FunctionsAuth.Tests.Infrastructure;
using FunctionsAuth.Tests.Secrets;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsAuth.Tests.OAuth;

/// <summary>
/// Entra ID with the managed identity as a federated identity credential. Entra itself cannot run here, so the token
/// endpoint is the scripted provider and the identity a fake <see cref="TokenCredential"/>: what is checked is what
/// FunctionsAuth asks the identity for and what it sends.
/// </summary>
public sealed class ManagedIdentityAssertionTests : IAsyncLifetime
{
    private const string Provider = "entra";

    private readonly FormRecorder recorder = new();
    private ScriptedProvider provider = null!;
    private TestEnvironment environment = null!;

    public async Task InitializeAsync()
    {
        provider = await ScriptedProvider.StartAsync();
        environment = await TestEnvironment.CreateAsync();
        environment.Settings.Remove("FunctionsAuth:Secrets:client-secret");
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:Kind"] = "Entra";
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:TenantId"] = "contoso.onmicrosoft.com";
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:ClientId"] = "11111111-2222-3333-4444-555555555555";
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:Scopes"] = "api://functionsauth-tests/.default offline_access";
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:ClientAuthentication"] = "ManagedIdentity";
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:TokenEndpoint"] = provider.TokenEndpoint.AbsoluteUri;
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:UserInfoEndpoint"] = provider.UserInfoEndpoint.AbsoluteUri;
    }

    public async Task DisposeAsync() => await provider.DisposeAsync();

    [Fact]
    public async Task Refresh_SendsTheIdentitysExchangeTokenAsTheClientAssertion_AndNoSecret()
    {
        var identity = new FakeTokenCredential("managed-identity-assertion-" + Guid.NewGuid().ToString("N"));
        await using var host = await StartHostAsync(identity);
        var created = await host.HandOverAsync(Provider, "refresh-1", "access-1", environment.Clock.GetUtcNow().AddMinutes(5));

        environment.Clock.Advance(TimeSpan.FromMinutes(6));
        Assert.True((await Expect.TokenAsync(await host.RefreshAsync(created.Session))).Refreshed);

        Assert.Equal(["api://AzureADTokenExchange/.default"], identity.LastRequest!.Value.Scopes);
        var form = Assert.Single(recorder.Forms, f => f.GetValueOrDefault("grant_type") == "refresh_token");
        Assert.Equal(identity.Token, form["client_assertion"]);
        Assert.Equal(ClientAuthenticator.JwtBearerAssertionType, form["client_assertion_type"]);
        Assert.Equal("11111111-2222-3333-4444-555555555555", form["client_id"]);
        Assert.False(form.ContainsKey("client_secret"));
        Assert.False(form.ContainsKey("(authorization)"));
        Assert.DoesNotContain(identity.Token, host.Logs.AllText);
    }

    [Theory]
    [InlineData("https://login.microsoftonline.us/", null, "api://AzureADTokenExchangeUSGov/.default")]
    [InlineData("https://login.partner.microsoftonline.cn/", null, "api://AzureADTokenExchangeChina/.default")]
    [InlineData("https://login.microsoftonline.com/", "api://AzureADTokenExchangeUSNat", "api://AzureADTokenExchangeUSNat/.default")]
    public async Task Refresh_AsksTheIdentityForItsClouds_ExchangeAudience(string instance, string? audience, string scope)
    {
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:Instance"] = instance;
        if (audience is not null)
        {
            environment.Settings[$"FunctionsAuth:Providers:{Provider}:TokenExchangeAudience"] = audience;
        }

        var identity = new FakeTokenCredential("managed-identity-assertion-" + Guid.NewGuid().ToString("N"));
        await using var host = await StartHostAsync(identity);
        var created = await host.HandOverAsync(Provider, "refresh-1", "access-1", environment.Clock.GetUtcNow().AddMinutes(5));

        environment.Clock.Advance(TimeSpan.FromMinutes(6));
        Assert.True((await Expect.TokenAsync(await host.RefreshAsync(created.Session))).Refreshed);

        Assert.Equal([scope], identity.LastRequest!.Value.Scopes);
    }

    [Fact]
    public async Task Startup_UnknownCloudWithoutAnExchangeAudience_RefusesToStart_NamingTheSetting()
    {
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:Instance"] = "https://login.example-sovereign.cloud/";

        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => StartHostAsync(new FakeTokenCredential("unused")));

        Assert.Contains(error.Failures, f => f.StartsWith($"FunctionsAuth:Providers:{Provider}: Instance login.example-sovereign.cloud is not a cloud", StringComparison.Ordinal) && f.Contains("set TokenExchangeAudience", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Instance", "https://login.microsoftonline.us/contoso.onmicrosoft.com", "Instance is the cloud's login host alone")]
    [InlineData("TokenExchangeAudience", "not a uri", "TokenExchangeAudience 'not a uri' is not an absolute URI")]
    public async Task Startup_BrokenCloudSetting_RefusesToStart(string setting, string value, string expected)
    {
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:{setting}"] = value;

        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => StartHostAsync(new FakeTokenCredential("unused")));

        Assert.Contains(error.Failures, f => f.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Startup_ExchangeAudienceOrInstance_WhereTheyMeanNothing_RefuseToStart()
    {
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:ClientAuthentication"] = "ClientSecretPost";
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:ClientSecretName"] = "client-secret";
        environment.Settings["FunctionsAuth:Secrets:client-secret"] = "s3cret";
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:TokenExchangeAudience"] = "api://AzureADTokenExchange";
        environment.Settings["FunctionsAuth:Providers:other:Kind"] = "Oidc";
        environment.Settings["FunctionsAuth:Providers:other:Issuer"] = "https://login.example/";
        environment.Settings["FunctionsAuth:Providers:other:ClientId"] = "client";
        environment.Settings["FunctionsAuth:Providers:other:Instance"] = "https://login.microsoftonline.us/";

        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => StartHostAsync(new FakeTokenCredential("unused")));

        Assert.Contains(error.Failures, f => f.StartsWith($"FunctionsAuth:Providers:{Provider}:TokenExchangeAudience is set but ClientAuthentication is ClientSecretPost", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.StartsWith("FunctionsAuth:Providers:other:Instance is Entra ID's login host; it needs Kind=Entra", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Refresh_IdentityUnavailable_503TemporarilyUnavailable_NothingSent_SessionKept()
    {
        var identity = new FakeTokenCredential("managed-identity-assertion");
        await using var host = await StartHostAsync(identity);
        var created = await host.HandOverAsync(Provider, "refresh-1", "access-1", environment.Clock.GetUtcNow().AddMinutes(5));
        var requestsBefore = provider.TokenRequests;
        await using var broken = await StartHostAsync(new UnavailableCredential());

        environment.Clock.Advance(TimeSpan.FromMinutes(6));
        await Expect.ErrorAsync(await broken.RefreshAsync(created.Session), HttpStatusCode.ServiceUnavailable, "temporarily_unavailable");

        Assert.Equal(requestsBefore, provider.TokenRequests);
        Assert.True((await Expect.TokenAsync(await host.RefreshAsync(created.Session))).Refreshed);
        Assert.Equal(["refresh-1"], provider.PresentedRefreshTokens);
    }

    [Fact]
    public async Task ScopedRefresh_EntraGraphToken_AsksForThatScopeAndOfflineAccessSoTheRefreshTokenIsRenewed()
    {
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:AllowedScopes"] = "https://graph.microsoft.com/.default api://functionsauth-tests/.default";
        await using var host = await StartHostAsync(new FakeTokenCredential("managed-identity-assertion-" + Guid.NewGuid().ToString("N")));
        var created = await host.HandOverAsync(Provider, "refresh-1", "access-1", environment.Clock.GetUtcNow().AddMinutes(5));

        var graph = await Expect.TokenAsync(await host.RefreshAsync(created.Session, "https://graph.microsoft.com/.default"));
        await Expect.ErrorAsync(await host.RefreshAsync(created.Session, "https://graph.microsoft.com/Mail.Read"), System.Net.HttpStatusCode.BadRequest, "invalid_scope");

        Assert.True(graph.Refreshed);
        var form = Assert.Single(recorder.Forms, f => f.GetValueOrDefault("grant_type") == "refresh_token");
        Assert.Equal("https://graph.microsoft.com/.default offline_access", form["scope"]);
        Assert.False(form.ContainsKey("resource"));
    }

    private Task<TestHost> StartHostAsync(TokenCredential identity) =>
        environment.StartHostAsync(builder =>
        {
            builder.Services.AddKeyedSingleton(ClientAuthenticator.ManagedIdentityCredentialKey, identity);
            builder.Services.AddHttpClient(OAuthClient.HttpClientName).AddHttpMessageHandler(recorder.CreateHandler);
        });

    /// <summary>What ManagedIdentityCredential throws where no identity endpoint answers (a developer machine, a broken app).</summary>
    private sealed class UnavailableCredential : TokenCredential
    {
        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            throw new CredentialUnavailableException("ManagedIdentityCredential authentication unavailable.");

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            throw new CredentialUnavailableException("ManagedIdentityCredential authentication unavailable.");
    }
}
