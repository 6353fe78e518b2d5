using System.Net;
using FunctionsAuth.DemoProvider;
using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;
using FunctionsAuth.Tests.Events;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Tests.EndToEnd;

/// <summary>
/// A provider that says when its refresh tokens die (<c>refresh_expires_in</c>, as Keycloak does), with Keycloak's
/// 5-minute access tokens: the real OpenIddict server, configured to publish it.
/// </summary>
public sealed class IdlePolicyTests : IAsyncLifetime
{
    private static readonly TimeSpan AccessLifetime = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan RefreshLifetime = TimeSpan.FromMinutes(30);

    private DemoOAuthServer server = null!;
    private TestEnvironment environment = null!;
    private TestHost host = null!;

    public async Task InitializeAsync()
    {
        server = await DemoOAuthServer.StartAsync(new DemoOAuthServerOptions
        {
            Clients = [TestEnvironment.DemoClient],
            AccessTokenLifetime = AccessLifetime,
            RefreshTokenLifetime = RefreshLifetime,
            PublishRefreshExpiresIn = true,
        });
        environment = (await TestEnvironment.CreateAsync()).WithDemoProvider(server);
        host = await environment.StartHostAsync();
    }

    public async Task DisposeAsync()
    {
        var reused = server.Statistics.ReusedRefreshTokens;
        await host.DisposeAsync();
        await server.DisposeAsync();
        Assert.Equal(0, reused);
    }

    [Fact]
    public async Task RefreshTokenDeath_IsStoredFromEachResponse_AndPastIt_ReauthRequiredWithoutAProviderCall()
    {
        var session = await host.SignInAsync(server);
        Assert.Equal(environment.Clock.GetUtcNow() + RefreshLifetime, (await RowAsync(session.Session)).RefreshTokenExpiresAt!.Value, TimeSpan.FromSeconds(10));

        environment.Clock.Advance(AccessLifetime - TimeSpan.FromSeconds(30));
        Assert.True((await Expect.TokenAsync(await host.RefreshAsync(session.Session))).Refreshed);
        var refreshed = await RowAsync(session.Session);
        Assert.Equal(environment.Clock.GetUtcNow() + RefreshLifetime, refreshed.RefreshTokenExpiresAt!.Value, TimeSpan.FromSeconds(10));

        // Idle past the refresh token's death: the sweeper planned nothing (no keep-alive stretches the provider's idle
        // session), and a caller hears reauth_required at once.
        Assert.Null(RefreshSchedule.RefreshDueAt(Idle(refreshed), host.Services.GetRequiredService<IOptions<FunctionsAuth.Configuration.FunctionsAuthOptions>>().Value));
        var requestsBefore = server.Statistics.RefreshRequests;
        environment.Clock.Advance(RefreshLifetime + TimeSpan.FromMinutes(1));

        var answer = await Expect.ErrorAsync(await host.RefreshAsync(session.Session), HttpStatusCode.Unauthorized, "reauth_required");
        Assert.Contains("refresh_token_expired", answer.ErrorDescription, StringComparison.Ordinal);
        Assert.Equal(requestsBefore, server.Statistics.RefreshRequests);
    }

    [Fact]
    public async Task RefreshTokenDeath_IdleSessionIsLookedAtThen_AndTheSweeperRecordsReauthRequired_OneEvent_NoProviderCall()
    {
        var created = await host.SignInWithSubjectAsync(server, "carol", "user-9");
        var options = host.Services.GetRequiredService<IOptions<FunctionsAuth.Configuration.FunctionsAuthOptions>>().Value;
        var row = await RowAsync(created.Session);
        var dies = row.RefreshTokenExpiresAt!.Value;

        // Nothing to refresh for an idle session, but its death is on the schedule, before its purge.
        Assert.Null(RefreshSchedule.RefreshDueAt(Idle(row), options));
        Assert.Equal(dies, RefreshSchedule.DueAt(Idle(row), options));

        var requestsBefore = server.Statistics.RefreshRequests;
        environment.Clock.Advance(RefreshLifetime + TimeSpan.FromMinutes(1));
        var sweeper = host.Services.GetRequiredService<FunctionsAuth.Sweeping.Sweeper>();
        await sweeper.SweepAsync(CancellationToken.None);
        await sweeper.SweepAsync(CancellationToken.None);

        var dead = await RowAsync(created.Session);
        Assert.Equal(SessionStatus.ReauthRequired, dead.Status);
        Assert.Equal(dies, dead.StatusChangedAt);
        Assert.Equal(RefreshRules.RefreshTokenExpired, dead.LastError);
        Assert.Null(dead.RefreshToken);
        Assert.Null(dead.AccessToken);
        Assert.Equal(RefreshSchedule.PurgeAt(dead, options.Sweeper), dead.DueAt);
        Assert.Equal(requestsBefore, server.Statistics.RefreshRequests);

        var reauth = Assert.Single(await host.QueuedEventsAsync(environment));
        Assert.Equal("functionsauth.session.reauth_required", reauth.Type);
        Assert.Equal("user-9", reauth.Subject);
        Assert.Equal(dies, reauth.Time!.Value, TimeSpan.FromMilliseconds(1));
        Assert.Equal(RefreshRules.RefreshTokenExpired, FunctionsAuth.Tests.Events.EventsTestSupport.DataOf(reauth).GetProperty("reason").GetString());

        var answer = await Expect.ErrorAsync(await host.RefreshAsync(created.Session), HttpStatusCode.Unauthorized, "reauth_required");
        Assert.Contains("refresh_token_expired", answer.ErrorDescription, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FiveMinuteTokens_ASecondLookRightAfterARefresh_DoesNotRefreshAgain()
    {
        var session = await host.SignInAsync(server);
        var options = host.Services.GetRequiredService<IOptions<FunctionsAuth.Configuration.FunctionsAuthOptions>>().Value;

        // The 10-minute window alone would make a 5-minute token due the moment it is issued.
        var row = await RowAsync(session.Session);
        var due = RefreshSchedule.RefreshDueAt(row, options)!.Value;
        var issued = row.AccessTokenIssuedAt!.Value;
        Assert.Equal(issued + ((row.AccessTokenExpiresAt!.Value - issued) / 2), due);
        Assert.True(due > issued + TimeSpan.FromMinutes(2));
        Assert.Equal(RowAction.Serve, RefreshRules.Decide(row, RefreshDemand.NoLongerDue(options), environment.Clock.GetUtcNow()));
    }

    /// <summary>The row as the sweeper would see it if nobody had used the session since it was refreshed.</summary>
    private static SessionEntity Idle(SessionEntity row)
    {
        var idle = row.Clone();
        idle.LastUsedAt = row.LastRefreshedAt!.Value - RefreshLifetime;
        return idle;
    }

    private async Task<SessionEntity> RowAsync(string handle)
    {
        Assert.True(SessionHandle.TryGetKey(handle, out var key));
        return (await host.Services.GetRequiredService<SessionStore>().GetAsync(key, default))!;
    }
}
