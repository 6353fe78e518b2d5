using System.Net;
using FunctionsAuth.Tests.Infrastructure;

namespace FunctionsAuth.Tests.OAuth;

/// <summary>
/// Provider calls do not follow redirects: a token or revocation endpoint that answers 307/308 would otherwise get the
/// form (refresh token, client secret) re-sent to wherever it points, and a redirected discovery document could name
/// another token endpoint. A redirect is a misconfigured provider: the caller gets the contract's answer for that.
/// </summary>
public sealed class ProviderRedirectTests : IAsyncLifetime
{
    private const string Provider = "redirecting";
    private const string Verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    private TestEnvironment environment = null!;
    private ScriptedProvider? userInfo;

    public async Task InitializeAsync()
    {
        environment = await TestEnvironment.CreateAsync();
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:Kind"] = "Oidc";
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:ClientId"] = "redirected-app";
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:ClientSecretName"] = "client-secret";
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:ClientAuthentication"] = "ClientSecretPost";
    }

    public async Task DisposeAsync()
    {
        if (userInfo is not null)
        {
            await userInfo.DisposeAsync();
        }
    }

    [Theory]
    [InlineData(HttpStatusCode.TemporaryRedirect)]
    [InlineData(HttpStatusCode.PermanentRedirect)]
    public async Task Refresh_TokenEndpointRedirects_RefreshTokenNeverReachesTheTarget_502ProviderError(HttpStatusCode redirect)
    {
        await using var provider = await RedirectingProvider.StartAsync(redirect);
        await using var host = await StartWithEndpointsAsync(provider);
        var created = await host.HandOverAsync(Provider, "handed-over-refresh", "handed-over-access", environment.Clock.GetUtcNow() + TimeSpan.FromMinutes(5));
        environment.Clock.Advance(TimeSpan.FromMinutes(6));

        using var response = await host.RefreshAsync(created.Session);

        await Expect.ErrorAsync(response, HttpStatusCode.BadGateway, "provider_error");
        Assert.Empty(provider.ArrivedAtTarget);
    }

    [Fact]
    public async Task Revoke_RevocationEndpointRedirects_RefreshTokenNeverReachesTheTarget()
    {
        await using var provider = await RedirectingProvider.StartAsync();
        await using var host = await StartWithEndpointsAsync(provider);
        var created = await host.HandOverAsync(Provider, "handed-over-refresh", "handed-over-access", environment.Clock.GetUtcNow() + TimeSpan.FromHours(1));

        using var response = await host.RevokeAsync(created.Session);

        await Expect.StatusAsync(response, HttpStatusCode.NoContent);
        Assert.Empty(provider.ArrivedAtTarget);
    }

    [Fact]
    public async Task CreateSession_DiscoveryRedirects_TargetIsNeverAsked()
    {
        await using var provider = await RedirectingProvider.StartAsync();
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:Issuer"] = provider.Issuer.AbsoluteUri;
        await using var host = await environment.StartHostAsync();

        using var response = await host.PostJsonAsync(
            "api/auth/sessions",
            $$"""{"provider":"{{Provider}}","code":"some-code","code_verifier":"{{Verifier}}","redirect_uri":"https://app.example/callback"}""");

        // A discovery document behind a redirect is a misconfigured issuer, not an outage: 502, and nothing fetched
        // from, or sent to, the target.
        await Expect.ErrorAsync(response, HttpStatusCode.BadGateway, "provider_error");
        Assert.Empty(provider.ArrivedAtTarget);
    }

    private async Task<TestHost> StartWithEndpointsAsync(RedirectingProvider provider)
    {
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:TokenEndpoint"] = provider.TokenEndpoint.AbsoluteUri;
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:RevocationEndpoint"] = provider.RevocationEndpoint.AbsoluteUri;

        // The hand-over that sets each test up is vouched for elsewhere, so registration sends nothing to the redirector.
        userInfo ??= await ScriptedProvider.StartAsync();
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:UserInfoEndpoint"] = userInfo.UserInfoEndpoint.AbsoluteUri;
        return await environment.StartHostAsync();
    }
}
