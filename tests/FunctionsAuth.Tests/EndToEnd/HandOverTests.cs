using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using FunctionsAuth.Tests.Infrastructure;

namespace FunctionsAuth.Tests.EndToEnd;

/// <summary>The hand-over form against a real provider: stored only once the provider has vouched for it.</summary>
public sealed class HandOverTests : DemoProviderTestBase
{
    private const string Garbage = """{"provider":"demo","refresh_token":"garbage","access_token":"fake-at","expires_at":99999999999}""";

    [Fact]
    public async Task HandOver_GarbageTokens_400InvalidGrantAndNothingStored()
    {
        var before = await Environment.DumpTablesAsync();

        using var response = await Host.PostJsonAsync("api/auth/sessions", Garbage);

        var error = await Expect.ErrorAsync(response, HttpStatusCode.BadRequest, "invalid_grant");
        Assert.DoesNotContain("fake-at", error.ErrorDescription);
        Assert.Equal(before, await Environment.DumpTablesAsync());
        Assert.Equal(0, Server.Statistics.RefreshRequests);
    }

    [Fact]
    public async Task HandOver_ForgedAccessTokenWithRealRefreshToken_RefusedAndTheRefreshTokenNotSpent()
    {
        var tokens = await SignInAtTheProviderAsync();
        var before = await Environment.DumpTablesAsync();

        using var response = await HandOverAsync(tokens.RefreshToken, "forged-" + tokens.AccessToken[..20], Environment.Clock.GetUtcNow().AddMinutes(20));

        await Expect.ErrorAsync(response, HttpStatusCode.BadRequest, "invalid_grant");
        Assert.Equal(before, await Environment.DumpTablesAsync());
        Assert.Equal(0, Server.Statistics.RefreshRequests);
    }

    [Fact]
    public async Task HandOver_RealTokensFromTheProvider_201ThenRefreshWorks()
    {
        var tokens = await SignInAtTheProviderAsync();
        var claimed = Environment.Clock.GetUtcNow() + tokens.ExpiresIn;

        using var response = await HandOverAsync(tokens.RefreshToken, tokens.AccessToken, claimed);

        await Expect.StatusAsync(response, HttpStatusCode.Created);
        var created = (await response.Content.ReadFromJsonAsync<SessionCreated>())!;
        Assert.Equal(tokens.AccessToken, created.AccessToken);
        Assert.True(created.ExpiresAt <= claimed.ToUnixTimeSeconds());
        Assert.Equal(0, Server.Statistics.RefreshRequests);

        Environment.Clock.Advance(Lifetime);
        var refreshed = await Expect.TokenAsync(await Host.RefreshAsync(created.Session));
        Assert.True(refreshed.Refreshed);
        Assert.NotEqual(tokens.AccessToken, refreshed.AccessToken);
        Assert.Equal(1, Server.Statistics.SuccessfulRefreshes);
    }

    [Fact]
    public async Task HandOver_ExpiresAtFarInTheFuture_CappedAtTheLongestLifetimeStored()
    {
        var tokens = await SignInAtTheProviderAsync();
        var now = Environment.Clock.GetUtcNow();

        using var response = await HandOverAsync(tokens.RefreshToken, tokens.AccessToken, DateTimeOffset.FromUnixTimeSeconds(99999999999));

        await Expect.StatusAsync(response, HttpStatusCode.Created);
        var created = (await response.Content.ReadFromJsonAsync<SessionCreated>())!;
        Assert.InRange(created.ExpiresAt, now.ToUnixTimeSeconds(), (now + TimeSpan.FromHours(1)).ToUnixTimeSeconds() + 1);
        var refreshed = await Expect.TokenAsync(await Host.RefreshAsync(created.Session));
        Assert.Equal(created.ExpiresAt, refreshed.ExpiresAt);
    }

    [Fact]
    public async Task HandOver_SwitchedOff_400InvalidRequestNamingTheSetting_CodeFormStillWorks()
    {
        var tokens = await SignInAtTheProviderAsync();
        Environment.Settings["FunctionsAuth:HandOver:Enabled"] = "false";
        await using var host = await Environment.StartHostAsync();
        var before = await Environment.DumpTablesAsync();

        using var response = await HandOverAsync(tokens.RefreshToken, tokens.AccessToken, Environment.Clock.GetUtcNow().AddMinutes(20), host);

        var error = await Expect.ErrorAsync(response, HttpStatusCode.BadRequest, "invalid_request");
        Assert.Contains("FunctionsAuth:HandOver:Enabled", error.ErrorDescription);
        Assert.Contains("disabled", error.ErrorDescription);
        Assert.Equal(before, await Environment.DumpTablesAsync());
        await host.SignInAsync(Server);
    }

    [Fact]
    public async Task Registration_RepeatedlyRefused_429WithRetryAfter_SuccessesSpendNothing()
    {
        Environment.Settings["FunctionsAuth:Registration:FailureLimit"] = "3";
        await using var host = await Environment.StartHostAsync();

        // Successes do not count: five of them leave the whole budget of failures.
        for (var i = 0; i < 5; i++)
        {
            await host.SignInAsync(Server);
        }

        for (var i = 0; i < 3; i++)
        {
            using var refused = await host.PostJsonAsync("api/auth/sessions", Garbage);
            await Expect.ErrorAsync(refused, HttpStatusCode.BadRequest, "invalid_grant");
        }

        using var limited = await host.PostJsonAsync("api/auth/sessions", Garbage);
        await Expect.ErrorAsync(limited, HttpStatusCode.TooManyRequests, "rate_limited");
        Assert.True(limited.Headers.RetryAfter?.Delta > TimeSpan.Zero);

        // While the caller is limited, good registrations wait too: before asking the provider nothing tells them apart.
        var tokens = await SignInAtTheProviderAsync();
        using var good = await HandOverAsync(tokens.RefreshToken, tokens.AccessToken, Environment.Clock.GetUtcNow().AddMinutes(20), host);
        await Expect.ErrorAsync(good, HttpStatusCode.TooManyRequests, "rate_limited");
    }

    [Fact]
    public async Task HandOver_ManyGarbageRefreshTokens_DoNotOpenTheProvidersCircuit()
    {
        for (var i = 0; i < 10; i++)
        {
            using var refused = await Host.PostJsonAsync("api/auth/sessions", $$"""{"provider":"demo","refresh_token":"garbage-{{i}}"}""");
            await Expect.ErrorAsync(refused, HttpStatusCode.BadRequest, "invalid_grant");
        }

        var created = await Host.SignInAsync(Server);
        Environment.Clock.Advance(Lifetime);
        Assert.True((await Expect.TokenAsync(await Host.RefreshAsync(created.Session))).Refreshed);
    }

    private Task<HttpResponseMessage> HandOverAsync(string refreshToken, string accessToken, DateTimeOffset expiresAt, TestHost? host = null) =>
        (host ?? Host).PostJsonAsync("api/auth/sessions", JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["provider"] = TestEnvironment.DemoProvider,
            ["refresh_token"] = refreshToken,
            ["access_token"] = accessToken,
            ["expires_at"] = expiresAt.ToUnixTimeSeconds(),
            ["scope"] = "openid offline_access api",
        }));

    /// <summary>What a front end holds after redeeming the code itself: the provider's own tokens.</summary>
    private async Task<(string AccessToken, string RefreshToken, TimeSpan ExpiresIn)> SignInAtTheProviderAsync()
    {
        var code = await Server.AuthorizeAsync(TestEnvironment.DemoClient.ClientId, TestEnvironment.DemoRedirectUri, "openid offline_access api", "alice");
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(Server.Issuer, "connect/token"))
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "authorization_code",
                ["code"] = code.Code,
                ["code_verifier"] = code.CodeVerifier,
                ["redirect_uri"] = code.RedirectUri.AbsoluteUri,
            }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(
            Encoding.ASCII.GetBytes($"{TestEnvironment.DemoClient.ClientId}:{TestEnvironment.DemoClient.ClientSecret}")));
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (body.GetProperty("access_token").GetString()!, body.GetProperty("refresh_token").GetString()!, TimeSpan.FromSeconds(body.GetProperty("expires_in").GetInt64()));
    }
}
