using System.Net;
using System.Net.Http.Json;
using System.Text;
using FunctionsAuth.Tests.Infrastructure;

namespace FunctionsAuth.Tests.EndToEnd;

/// <summary>A handed-over access token's own <c>exp</c> (read, not trusted) only ever shortens what the caller claims.</summary>
public sealed class HandOverExpiryTests : ScriptedProviderTestBase
{
    [Fact]
    public async Task HandOver_JwtExpiresBeforeTheClaimedExpiresAt_StoredWithTheTokensOwnExp()
    {
        var now = Environment.Clock.GetUtcNow();
        var exp = now.AddMinutes(12).ToUnixTimeSeconds();

        var created = await Host.HandOverAsync(TestEnvironment.ScriptedProvider, "handed-over-refresh", UnsignedJwt(exp), now.AddMinutes(50));

        Assert.Equal(exp, created.ExpiresAt);
        var served = await Expect.TokenAsync(await Host.RefreshAsync(created.Session));
        Assert.Equal(exp, served.ExpiresAt);
        Assert.Equal(1, Provider.UserInfoRequests);
    }

    [Fact]
    public async Task HandOver_JwtExpiresAfterTheClaimedExpiresAt_TheClaimStands()
    {
        var now = Environment.Clock.GetUtcNow();
        var claimed = now.AddMinutes(20);

        var created = await Host.HandOverAsync(TestEnvironment.ScriptedProvider, "handed-over-refresh", UnsignedJwt(now.AddHours(5).ToUnixTimeSeconds()), claimed);

        Assert.Equal(claimed.ToUnixTimeSeconds(), created.ExpiresAt);
    }

    [Fact]
    public async Task HandOver_AccessTokenTheProviderRefuses_400InvalidGrantNothingStoredNoTokenEchoed()
    {
        Provider.RefusedAccessTokens["revoked-access"] = true;
        var before = await Environment.DumpTablesAsync();

        using var response = await Host.PostJsonAsync(
            "api/auth/sessions",
            $$"""{"provider":"scripted","refresh_token":"handed-over-refresh","access_token":"revoked-access","expires_at":{{Environment.Clock.GetUtcNow().AddMinutes(30).ToUnixTimeSeconds()}}}""");

        var body = await response.Content.ReadAsStringAsync();
        await Expect.ErrorAsync(response, HttpStatusCode.BadRequest, "invalid_grant");
        Assert.DoesNotContain("revoked-access", body);
        Assert.Equal(before, await Environment.DumpTablesAsync());
        Assert.Equal(0, Provider.TokenRequests);
    }

    [Fact]
    public async Task HandOver_AlreadyExpiredJwt_RefreshesOnceInsteadOfAskingUserInfo()
    {
        var now = Environment.Clock.GetUtcNow();

        using var response = await Host.PostJsonAsync(
            "api/auth/sessions",
            $$"""{"provider":"scripted","refresh_token":"handed-over-refresh","access_token":"{{UnsignedJwt(now.AddMinutes(-1).ToUnixTimeSeconds())}}","expires_at":{{now.AddMinutes(30).ToUnixTimeSeconds()}}}""");

        await Expect.StatusAsync(response, HttpStatusCode.Created);
        var created = (await response.Content.ReadFromJsonAsync<SessionCreated>())!;
        Assert.Equal(1, Provider.TokenRequests);
        Assert.Equal(0, Provider.UserInfoRequests);
        Assert.True(created.ExpiresAt > now.ToUnixTimeSeconds());
    }

    private static string UnsignedJwt(long exp)
    {
        static string Part(string json) => Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        return Part("""{"alg":"none","typ":"at+jwt"}""") + "." + Part($$"""{"sub":"alice","scope":["openid","api"],"exp":{{exp}},"iat":1}""") + ".";
    }
}
