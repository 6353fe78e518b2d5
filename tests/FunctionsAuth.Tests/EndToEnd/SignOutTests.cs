using System.Net;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;

namespace FunctionsAuth.Tests.EndToEnd;

/// <summary>Sign-out per the provider's grant model, against the real OpenIddict server (it counts revocation requests).</summary>
public sealed class SignOutTests : DemoProviderTestBase
{
    [Fact]
    public async Task Default_ForAGrantPerSession_RevokesAtTheProvider()
    {
        var session = await Host.SignInAsync(Server);
        var stored = await StoredRefreshTokenAsync(session.Session);

        await Expect.StatusAsync(await Host.RevokeAsync(session.Session), HttpStatusCode.NoContent);

        Assert.Equal(1, Server.Statistics.RevocationRequests);
        await Expect.ErrorAsync(await Host.RefreshAsync(session.Session), HttpStatusCode.Unauthorized, "invalid_session");
        Assert.False(await ProviderAcceptsAsync(stored));
    }

    [Fact]
    public async Task Default_AppSaysRevokeGrantFalse_OnlyDeletesTheSession()
    {
        var session = await Host.SignInAsync(Server);
        var stored = await StoredRefreshTokenAsync(session.Session);

        await Expect.StatusAsync(await RevokeAsync(Host, session.Session, revokeGrant: false), HttpStatusCode.NoContent);

        Assert.Equal(0, Server.Statistics.RevocationRequests);
        await Expect.ErrorAsync(await Host.RefreshAsync(session.Session), HttpStatusCode.Unauthorized, "invalid_session");
        Assert.True(await ProviderAcceptsAsync(stored));
    }

    [Fact]
    public async Task Never_DeletesOnly_AndRefusesRevokeGrantChangingNothing()
    {
        await using var host = await HostWithAsync("Never");
        var laptop = await host.SignInAsync(Server);
        var phone = await host.SignInAsync(Server);

        var refused = await Expect.ErrorAsync(await RevokeAsync(host, laptop.Session, revokeGrant: true), HttpStatusCode.BadRequest, "invalid_request");
        Assert.Contains("revoke_grant", refused.ErrorDescription);
        Assert.Equal(0, Server.Statistics.RevocationRequests);
        await Expect.TokenAsync(await host.RefreshAsync(laptop.Session));

        await Expect.StatusAsync(await host.RevokeAsync(laptop.Session), HttpStatusCode.NoContent);

        Assert.Equal(0, Server.Statistics.RevocationRequests);
        await Expect.ErrorAsync(await host.RefreshAsync(laptop.Session), HttpStatusCode.Unauthorized, "invalid_session");
        Environment.Clock.Advance(Lifetime);
        Assert.True((await Expect.TokenAsync(await host.RefreshAsync(phone.Session))).Refreshed);
    }

    [Fact]
    public async Task OnRequest_RevokesOnlyWhenTheAppAsks()
    {
        await using var host = await HostWithAsync("OnRequest");
        var kept = await host.SignInAsync(Server);
        var keptToken = await StoredRefreshTokenAsync(kept.Session);
        var revoked = await host.SignInAsync(Server);
        var revokedToken = await StoredRefreshTokenAsync(revoked.Session);

        await Expect.StatusAsync(await host.RevokeAsync(kept.Session), HttpStatusCode.NoContent);
        Assert.Equal(0, Server.Statistics.RevocationRequests);
        await Expect.StatusAsync(await RevokeAsync(host, revoked.Session, revokeGrant: true), HttpStatusCode.NoContent);
        Assert.Equal(1, Server.Statistics.RevocationRequests);

        Assert.True(await ProviderAcceptsAsync(keptToken));
        Assert.False(await ProviderAcceptsAsync(revokedToken));
    }

    [Theory]
    [InlineData("\"yes\"")]
    [InlineData("1")]
    [InlineData("null")]
    public async Task RevokeGrant_NotABoolean_IsInvalidRequest_AndChangesNothing(string value)
    {
        var session = await Host.SignInAsync(Server);

        using var response = await Host.PostJsonAsync("api/auth/revoke", $$"""{"session":"{{session.Session}}","revoke_grant":{{value}}}""");

        if (value == "null")
        {
            // JSON null is "not said": the provider's setting decides, as if the member were absent.
            await Expect.StatusAsync(response, HttpStatusCode.NoContent);
            Assert.Equal(1, Server.Statistics.RevocationRequests);
            return;
        }

        await Expect.ErrorAsync(response, HttpStatusCode.BadRequest, "invalid_request");
        Assert.Equal(0, Server.Statistics.RevocationRequests);
        await Expect.TokenAsync(await Host.RefreshAsync(session.Session));
    }

    private Task<TestHost> HostWithAsync(string signOutRevocation) =>
        Environment.StartHostAsync(builder => builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"FunctionsAuth:Providers:{TestEnvironment.DemoProvider}:SignOutRevocation"] = signOutRevocation,
        }));

    private static Task<HttpResponseMessage> RevokeAsync(TestHost host, string session, bool revokeGrant) =>
        host.PostJsonAsync("api/auth/revoke", $$"""{"session":"{{session}}","revoke_grant":{{(revokeGrant ? "true" : "false")}}}""");

    /// <summary>Whether the provider still honours the grant: a refresh with the token straight at its token endpoint.</summary>
    private async Task<bool> ProviderAcceptsAsync(string refreshToken)
    {
        using var http = new HttpClient();
        using var response = await http.PostAsync(new Uri(Server.Issuer, "connect/token"), new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token",
            ["refresh_token"] = refreshToken,
            ["client_id"] = TestEnvironment.DemoClient.ClientId,
            ["client_secret"] = TestEnvironment.ClientSecret,
        }));
        return response.IsSuccessStatusCode;
    }
}
