using System.Net;
using System.Net.Http.Json;
using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsAuth.Tests.EndToEnd;

/// <summary>
/// What providers really answer, from a scripted token endpoint: odd but successful bodies, errors in odd places,
/// Entra ID's "the user must interact" codes, and token lifetimes against min_ttl.
/// </summary>
public sealed class ProviderAnswerTests : ScriptedProviderTestBase
{
    [Theory]
    [InlineData("""{"access_token":"{access_token}","token_type":"Bearer","expires_in":"3599.0","refresh_token":"{refresh_token}"}""", 3599)]
    [InlineData("""{"access_token":"{access_token}","token_type":"Bearer","expires_in":3599.5,"refresh_token":"{refresh_token}"}""", 3599)]
    [InlineData("""{"access_token":"{access_token}","token_type":"Bearer","expires_in":"","refresh_token":"{refresh_token}"}""", 3600)]
    [InlineData("""{"access_token":"{access_token}","expires_in":600,"refresh_token":"{refresh_token}","scope":["openid","api"]}""", 600)]
    public async Task Refresh_OddButSuccessfulAnswer_RotatedTokenKeptAndUsedNext(string body, int expectedLifetimeSeconds)
    {
        var created = await HandOverExpiredAsync();
        Provider.Then(ScriptedResponse.Raw(200, body));

        var answer = await Expect.TokenAsync(await Host.RefreshAsync(created.Session));

        Assert.True(answer.Refreshed);
        Assert.InRange(answer.ExpiresAt - Environment.Clock.GetUtcNow().ToUnixTimeSeconds(), expectedLifetimeSeconds - 5, expectedLifetimeSeconds);
        var rotated = Assert.Single(Provider.IssuedRefreshTokens);
        Environment.Clock.Advance(TimeSpan.FromHours(2));
        Assert.True((await Expect.TokenAsync(await Host.RefreshAsync(created.Session))).Refreshed);
        Assert.Equal(["handed-over-refresh", rotated], Provider.PresentedRefreshTokens);
    }

    [Fact]
    public async Task Refresh_ScopeAsAnArray_StoredSpaceSeparated()
    {
        var created = await HandOverExpiredAsync();
        Provider.Then(ScriptedResponse.Raw(200, """{"access_token":"{access_token}","expires_in":600,"refresh_token":"{refresh_token}","scope":["openid","api"]}"""));

        Assert.Equal("openid api", (await Expect.TokenAsync(await Host.RefreshAsync(created.Session))).Scope);
    }

    [Fact]
    public async Task Refresh_ErrorInA200_TreatedAsThatError()
    {
        var created = await HandOverExpiredAsync();
        Provider.Then(ScriptedResponse.Raw(200, """{"error":"invalid_grant","error_description":"revoked"}"""));

        await Expect.ErrorAsync(await Host.RefreshAsync(created.Session), HttpStatusCode.Unauthorized, "reauth_required");
        Assert.Equal(SessionStatus.ReauthRequired, (await RowAsync(created.Session)).Status);
    }

    [Theory]
    [InlineData(400, "<html><body><h1>400 Bad Request</h1></body></html>", "text/html")]
    [InlineData(403, "", "text/plain")]
    public async Task Refresh_Non4xxJson_ARejectionNotAnUnknownOutcome(int status, string body, string contentType)
    {
        var created = await HandOverExpiredAsync();
        Provider.Then(ScriptedResponse.Raw(status, body, contentType));

        await Expect.ErrorAsync(await Host.RefreshAsync(created.Session), HttpStatusCode.BadGateway, "provider_error");

        var row = await RowAsync(created.Session);
        Assert.Equal($"http_{status}", row.LastError);
        Assert.DoesNotContain(Host.Logs.Lines, line => line.Contains("outcome of the refresh", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Refresh_Empty401_IsInvalidClient_SecretReloadedOnceThenProviderError()
    {
        var created = await HandOverExpiredAsync();
        Provider.Then(ScriptedResponse.Raw(401, "", "text/plain")).Then(ScriptedResponse.Raw(401, "", "text/plain"));

        await Expect.ErrorAsync(await Host.RefreshAsync(created.Session), HttpStatusCode.BadGateway, "provider_error");

        Assert.Equal(2, Provider.TokenRequests);
    }

    [Theory]
    [InlineData("interaction_required")]
    [InlineData("consent_required")]
    [InlineData("login_required")]
    public async Task Refresh_EntraAsksTheUserToInteract_ReauthRequiredWithTheReason(string code)
    {
        var created = await HandOverExpiredAsync();
        Provider.Then(ScriptedResponse.OAuthError(code));

        var first = await Expect.ErrorAsync(await Host.RefreshAsync(created.Session), HttpStatusCode.Unauthorized, "reauth_required");
        var again = await Expect.ErrorAsync(await Host.RefreshAsync(created.Session), HttpStatusCode.Unauthorized, "reauth_required");

        Assert.Contains(code, first.ErrorDescription, StringComparison.Ordinal);
        Assert.Contains(code, again.ErrorDescription, StringComparison.Ordinal);
        Assert.Equal(1, Provider.TokenRequests);
        Assert.Contains(Host.Logs.Lines, line => line.Contains($"({code}): sign-in required", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("https://app.example.com")]
    [InlineData("https://app.example.com/callback?x=1&y=%2F")]
    [InlineData("HTTPS://App.Example.com:443/cb")]
    public async Task RegisterCode_RedirectUri_SentExactlyAsReceived(string redirectUri)
    {
        using var response = await Host.Client.PostAsJsonAsync("api/auth/sessions", new Dictionary<string, string>
        {
            ["provider"] = TestEnvironment.ScriptedProvider,
            ["code"] = "some-code",
            ["code_verifier"] = new string('v', 43),
            ["redirect_uri"] = redirectUri,
        });

        await Expect.StatusAsync(response, HttpStatusCode.Created);
        Assert.Equal([redirectUri], Provider.PresentedRedirectUris);
    }

    [Fact]
    public async Task Refresh_ShortLivedTokenAndSmallMinTtl_RefreshedBeforeExpiryNotAfter()
    {
        Provider.AccessTokenLifetime = TimeSpan.FromSeconds(20);
        var created = await RegisterWithoutAccessTokenAsync();

        Environment.Clock.Advance(TimeSpan.FromSeconds(17));
        var stillGood = await Expect.TokenAsync(await Host.RefreshAsync(created.Session, minTtl: 2));
        Environment.Clock.Advance(TimeSpan.FromSeconds(1.5));
        var nearExpiry = await Expect.TokenAsync(await Host.RefreshAsync(created.Session, minTtl: 2));

        Assert.False(stillGood.Refreshed);
        Assert.True(nearExpiry.Refreshed);
        Assert.True(nearExpiry.ExpiresAt - Environment.Clock.GetUtcNow().ToUnixTimeSeconds() >= 2);
        Assert.Equal(2, Provider.TokenRequests);
    }

    [Fact]
    public async Task Refresh_MinTtlJustAboveTheProvidersLifetime_OneRefreshPerHalfLifetimeNotPerCall()
    {
        // Google answers expires_in 3599; a front end asking for an hour must not cost a provider call per request.
        Provider.AccessTokenLifetime = TimeSpan.FromSeconds(3599);
        var created = await RegisterWithoutAccessTokenAsync();

        for (var minute = 1; minute <= 29; minute++)
        {
            Environment.Clock.Advance(TimeSpan.FromMinutes(1));
            Assert.False((await Expect.TokenAsync(await Host.RefreshAsync(created.Session, minTtl: 3600))).Refreshed);
        }

        Environment.Clock.Advance(TimeSpan.FromMinutes(1));
        Assert.True((await Expect.TokenAsync(await Host.RefreshAsync(created.Session, minTtl: 3600))).Refreshed);
        Assert.False((await Expect.TokenAsync(await Host.RefreshAsync(created.Session, minTtl: 3600))).Refreshed);
        Assert.Equal(2, Provider.TokenRequests);
    }

    private async Task<SessionCreated> HandOverExpiredAsync()
    {
        var created = await Host.HandOverAsync(TestEnvironment.ScriptedProvider, "handed-over-refresh", "handed-over-access", Environment.Clock.GetUtcNow().AddMinutes(5));
        Environment.Clock.Advance(TimeSpan.FromMinutes(6));
        return created;
    }

    /// <summary>A hand-over without access token: registration refreshes once, so the token's lifetime is known.</summary>
    private async Task<SessionCreated> RegisterWithoutAccessTokenAsync()
    {
        using var response = await Host.PostJsonAsync("api/auth/sessions", """{"provider":"scripted","refresh_token":"handed-over-refresh"}""");
        await Expect.StatusAsync(response, HttpStatusCode.Created);
        return (await response.Content.ReadFromJsonAsync<SessionCreated>())!;
    }

}
