using System.Net;
using FunctionsAuth.DemoProvider;
using FunctionsAuth.Protection;
using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsAuth.Tests.EndToEnd;

/// <summary>The whole path through real HTTP, Azurite and a real OAuth server (OpenIddict, rotation on).</summary>
public sealed class RefreshFlowTests : DemoProviderTestBase
{
    [Fact]
    public async Task SignIn_Refresh_Revoke_RotatesAndPersistsRefreshTokenAndNeverReusesOne()
    {
        var created = await Host.SignInAsync(Server);
        Assert.Equal(43, created.Session.Length);
        Assert.False(string.IsNullOrEmpty(created.AccessToken));
        Assert.False(string.IsNullOrEmpty(created.IdToken));
        Assert.Equal("Bearer", created.TokenType);
        Assert.InRange(created.ExpiresAt - Environment.Clock.GetUtcNow().ToUnixTimeSeconds(), (long)Lifetime.TotalSeconds - 30, (long)Lifetime.TotalSeconds + 1);
        var firstRefreshToken = await StoredRefreshTokenAsync(created.Session);

        // Fresh token: served from storage, no provider call.
        var served = await Expect.TokenAsync(await Host.RefreshAsync(created.Session));
        Assert.False(served.Refreshed);
        Assert.Equal(created.AccessToken, served.AccessToken);
        Assert.Equal(0, Server.Statistics.RefreshRequests);

        // Inside min_ttl of expiry: one refresh, a new access token and a rotated refresh token persisted.
        Environment.Clock.Advance(Lifetime - TimeSpan.FromSeconds(30));
        var refreshed = await Expect.TokenAsync(await Host.RefreshAsync(created.Session, minTtl: 60));
        Assert.True(refreshed.Refreshed);
        Assert.NotEqual(created.AccessToken, refreshed.AccessToken);
        Assert.True(refreshed.ExpiresAt > Environment.Clock.GetUtcNow().ToUnixTimeSeconds() + 60);
        Assert.Equal(1, Server.Statistics.RefreshRequests);
        var secondRefreshToken = await StoredRefreshTokenAsync(created.Session);
        Assert.NotEqual(firstRefreshToken, secondRefreshToken);

        // And again: the rotated token is the one sent (OpenIddict would reject a reused one and revoke the chain).
        Environment.Clock.Advance(Lifetime);
        var again = await Expect.TokenAsync(await Host.RefreshAsync(created.Session));
        Assert.True(again.Refreshed);
        Assert.Equal(2, Server.Statistics.SuccessfulRefreshes);
        Assert.Equal(0, Server.Statistics.ReusedRefreshTokens);
        Assert.NotEqual(secondRefreshToken, await StoredRefreshTokenAsync(created.Session));

        await Expect.StatusAsync(await Host.RevokeAsync(created.Session), HttpStatusCode.NoContent);
        Assert.Equal(1, Server.Statistics.RevocationRequests);
        await Expect.ErrorAsync(await Host.RefreshAsync(created.Session), HttpStatusCode.Unauthorized, "invalid_session");

        // Revocation is idempotent.
        await Expect.StatusAsync(await Host.RevokeAsync(created.Session), HttpStatusCode.NoContent);
        Assert.Equal(1, Server.Statistics.RevocationRequests);
        Assert.Equal(0, Server.Statistics.ReusedRefreshTokens);
    }

    [Fact]
    public async Task Refresh_MinTtlLongerThanTokenLifetime_OneRefreshPerHalfLifetimeNotInALoop()
    {
        var created = await Host.SignInAsync(Server);
        Environment.Clock.Advance(Lifetime / 4);

        // No token the provider issues can live 2 h: one under half its lifetime old is as good as a refresh would give.
        var young = await Expect.TokenAsync(await Host.RefreshAsync(created.Session, minTtl: 7200));
        Environment.Clock.Advance(Lifetime / 2);
        var first = await Expect.TokenAsync(await Host.RefreshAsync(created.Session, minTtl: 7200));
        var second = await Expect.TokenAsync(await Host.RefreshAsync(created.Session, minTtl: 7200));
        Environment.Clock.Advance(Lifetime / 4);
        var third = await Expect.TokenAsync(await Host.RefreshAsync(created.Session, minTtl: 7200));

        Assert.False(young.Refreshed);
        Assert.Equal(created.AccessToken, young.AccessToken);
        Assert.True(first.Refreshed);
        Assert.False(second.Refreshed);
        Assert.False(third.Refreshed);
        Assert.Equal(first.AccessToken, third.AccessToken);
        Assert.Equal(1, Server.Statistics.RefreshRequests);
    }

    [Fact]
    public async Task Refresh_ProviderRevokedTheGrant_ReauthRequiredWithoutRetrying()
    {
        var created = await Host.SignInAsync(Server, subject: "mallory");
        await Server.RevokeGrantsAsync("mallory");
        Environment.Clock.Advance(Lifetime);

        await Expect.ErrorAsync(await Host.RefreshAsync(created.Session), HttpStatusCode.Unauthorized, "reauth_required");
        await Expect.ErrorAsync(await Host.RefreshAsync(created.Session), HttpStatusCode.Unauthorized, "reauth_required");

        Assert.Equal(1, Server.Statistics.RefreshRequests);
        var row = await RowAsync(created.Session);
        Assert.Equal(SessionStatus.ReauthRequired, row.Status);
        Assert.Null(row.RefreshToken);
    }

    [Fact]
    public async Task Refresh_FiftyConcurrentCallersOnADueToken_OneProviderRefreshAndOneToken()
    {
        var created = await Host.SignInAsync(Server);
        Environment.Clock.Advance(Lifetime - TimeSpan.FromSeconds(10));

        var answers = await Task.WhenAll(Enumerable.Range(0, 50).Select(async _ => await Expect.TokenAsync(await Host.RefreshAsync(created.Session))));

        Assert.Equal(1, Server.Statistics.RefreshRequests);
        Assert.Equal(0, Server.Statistics.ReusedRefreshTokens);
        Assert.Single(answers.Select(a => a.AccessToken).Distinct());
        Assert.NotEqual(created.AccessToken, answers[0].AccessToken);
        Assert.Contains(answers, a => a.Refreshed);
    }

    [Fact]
    public async Task Refresh_FiftyConcurrentCallersAcrossTwoInstances_OneProviderRefreshThroughTheLease()
    {
        await using var second = await Environment.StartHostAsync();
        var created = await Host.SignInAsync(Server);
        Environment.Clock.Advance(Lifetime - TimeSpan.FromSeconds(10));

        var answers = await Task.WhenAll(Enumerable.Range(0, 50).Select(async i =>
            await Expect.TokenAsync(await (i % 2 == 0 ? Host : second).RefreshAsync(created.Session))));

        Assert.Equal(1, Server.Statistics.RefreshRequests);
        Assert.Equal(0, Server.Statistics.ReusedRefreshTokens);
        Assert.Single(answers.Select(a => a.AccessToken).Distinct());
    }

    [Fact]
    public async Task Refresh_ManySessionsAtOnce_EachRefreshedOnce()
    {
        var sessions = new List<SessionCreated>();
        for (var i = 0; i < 8; i++)
        {
            sessions.Add(await Host.SignInAsync(Server, subject: $"user{i}"));
        }

        Environment.Clock.Advance(Lifetime);
        var answers = await Task.WhenAll(sessions.SelectMany(s => Enumerable.Range(0, 5).Select(async _ => (s.Session, Answer: await Expect.TokenAsync(await Host.RefreshAsync(s.Session))))));

        Assert.Equal(sessions.Count, Server.Statistics.RefreshRequests);
        Assert.Equal(0, Server.Statistics.ReusedRefreshTokens);
        Assert.All(answers.GroupBy(a => a.Session), g => Assert.Single(g.Select(a => a.Answer.AccessToken).Distinct()));
    }
}
