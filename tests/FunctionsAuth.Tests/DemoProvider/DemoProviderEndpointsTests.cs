using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using FunctionsAuth.DemoProvider;

namespace FunctionsAuth.Tests.DemoProvider;

/// <summary>
/// The demo provider's userinfo endpoint (the protected resource the Next.js example calls) and its
/// <c>/demo-admin/</c> endpoints (what the browser tests use, since they run the provider as a separate process).
/// </summary>
public sealed class DemoProviderEndpointsTests : IAsyncLifetime
{
    private DemoOAuthServer _server = null!;
    private readonly HttpClient _http = new();

    public async Task InitializeAsync() =>
        _server = await DemoOAuthServer.StartAsync(new DemoOAuthServerOptions());

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task UserInfo_ValidAccessToken_AnswersTheSignedInUsersClaims()
    {
        var tokens = await SignInAsync("alice");

        var claims = await UserInfoAsync(tokens.AccessToken);

        Assert.Equal(HttpStatusCode.OK, claims.Status);
        Assert.Equal("alice", claims.Body!.Value.GetProperty("sub").GetString());
        Assert.Equal("alice@demo.invalid", claims.Body!.Value.GetProperty("email").GetString());
    }

    [Fact]
    public async Task UserInfo_NoOrForgedToken_Unauthorized()
    {
        Assert.Equal(HttpStatusCode.Unauthorized, (await UserInfoAsync(null)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await UserInfoAsync("not-a-token")).Status);
    }

    [Fact]
    public async Task RevokeGrants_BySubject_AccessTokenAndRefreshTokenOfThatUserStopWorking()
    {
        var alice = await SignInAsync("alice");
        var bob = await SignInAsync("bob");

        using var revoke = await _http.PostAsync(new Uri(_server.Issuer, "demo-admin/revoke-grants?subject=alice"), null);

        Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await UserInfoAsync(alice.AccessToken)).Status);
        using var refresh = await TokenAsync(new() { ["grant_type"] = "refresh_token", ["refresh_token"] = alice.RefreshToken });
        Assert.Equal(HttpStatusCode.BadRequest, refresh.StatusCode);
        Assert.Equal("invalid_grant", (await refresh.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.OK, (await UserInfoAsync(bob.AccessToken)).Status);
    }

    [Fact]
    public async Task RevokeGrants_WithoutSubject_BadRequest()
    {
        using var revoke = await _http.PostAsync(new Uri(_server.Issuer, "demo-admin/revoke-grants"), null);

        Assert.Equal(HttpStatusCode.BadRequest, revoke.StatusCode);
    }

    [Fact]
    public async Task Statistics_AfterARefreshAndAReuse_CountsAsTheServerDoes()
    {
        var tokens = await SignInAsync("alice");
        using (await TokenAsync(new() { ["grant_type"] = "refresh_token", ["refresh_token"] = tokens.RefreshToken }))
        using (await TokenAsync(new() { ["grant_type"] = "refresh_token", ["refresh_token"] = tokens.RefreshToken }))
        {
        }

        var statistics = await _http.GetFromJsonAsync<JsonElement>(new Uri(_server.Issuer, "demo-admin/statistics"));

        Assert.Equal(1, statistics.GetProperty("authorizationCodeRedemptions").GetInt64());
        Assert.Equal(2, statistics.GetProperty("refreshRequests").GetInt64());
        Assert.Equal(1, statistics.GetProperty("successfulRefreshes").GetInt64());
        Assert.Equal(1, statistics.GetProperty("reusedRefreshTokens").GetInt64());
        Assert.Equal(_server.Statistics.ReusedRefreshTokens, statistics.GetProperty("reusedRefreshTokens").GetInt64());
    }

    private async Task<(string AccessToken, string RefreshToken)> SignInAsync(string subject)
    {
        var code = await _server.AuthorizeAsync(
            DemoOAuthClient.DefaultClientId, DemoOAuthClient.DefaultRedirectUri, "openid offline_access profile email", subject);
        using var response = await TokenAsync(new()
        {
            ["grant_type"] = "authorization_code",
            ["code"] = code.Code,
            ["code_verifier"] = code.CodeVerifier,
            ["redirect_uri"] = code.RedirectUri.AbsoluteUri,
        });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (body.GetProperty("access_token").GetString()!, body.GetProperty("refresh_token").GetString()!);
    }

    private async Task<HttpResponseMessage> TokenAsync(Dictionary<string, string> form)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_server.Issuer, "connect/token"))
        {
            Content = new FormUrlEncodedContent(form),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(
            Encoding.ASCII.GetBytes($"{DemoOAuthClient.DefaultClientId}:{DemoOAuthClient.DefaultClientSecret}")));
        return await _http.SendAsync(request);
    }

    private async Task<(HttpStatusCode Status, JsonElement? Body)> UserInfoAsync(string? accessToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(_server.Issuer, "connect/userinfo"));
        if (accessToken is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        }

        using var response = await _http.SendAsync(request);
        return response.IsSuccessStatusCode
            ? (response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>())
            : (response.StatusCode, null);
    }
}
