using System.Diagnostics.Metrics;
using System.Net;
using Azure;
using Azure.Data.Tables;
using FunctionsAuth.DemoProvider;
using FunctionsAuth.Functions;
using FunctionsAuth.OAuth;
using FunctionsAuth.Protection;
using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;
using FunctionsAuth.Sweeping;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace FunctionsAuth.Tests.Sweeping;

/// <summary>
/// The sweeper against Azurite and a real OAuth server (OpenIddict, rotating refresh tokens with reuse detection).
/// Our side's time is a <see cref="DrivenClock"/>: a fake clock the test moves, which runs on at real speed only while
/// something waits on it (a provider time-out, a lease poll, a back-off, the run's budget), so no wait hangs. The OAuth
/// server keeps real time, which only its refresh-token lifetime (14 days, real) could notice.
/// </summary>
public sealed class SweeperTests : IAsyncLifetime
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(30);

    /// <summary>Into the default 10-minute refresh window of a token issued at the start.</summary>
    private static readonly TimeSpan IntoWindow = Lifetime - TimeSpan.FromMinutes(9);

    private readonly DrivenClock clock = new(TimeProvider.System.GetUtcNow());
    private DemoOAuthServer server = null!;
    private TestEnvironment environment = null!;

    public async Task InitializeAsync()
    {
        server = await DemoOAuthServer.StartAsync(new DemoOAuthServerOptions { Clients = [TestEnvironment.DemoClient], AccessTokenLifetime = Lifetime });
        environment = (await TestEnvironment.CreateAsync()).WithDemoProvider(server);
    }

    /// <summary>After every test: the OAuth server never saw a refresh token twice.</summary>
    public async Task DisposeAsync()
    {
        var reused = server.Statistics.ReusedRefreshTokens;
        await server.DisposeAsync();
        clock.Dispose();
        Assert.Equal(0, reused);
    }

    [Fact]
    public async Task Sweep_TokenInsideTheWindow_RefreshedAndTokensOutsideNotTouched()
    {
        await using var host = await StartHostAsync();
        AlignToMinute(TimeSpan.FromSeconds(10));
        var inside = await host.SignInAsync(server, "alice");
        clock.Advance(TimeSpan.FromMinutes(5));
        var soon = await host.SignInAsync(server, "bob");
        clock.Advance(TimeSpan.FromMinutes(10));
        var outside = await host.SignInAsync(server, "carol");

        // "inside" entered its window 5 minutes ago; "soon" enters it 5 seconds from now, within the same minute bucket
        // the run reads; "outside" in 15 minutes.
        clock.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromSeconds(5));
        var insideBefore = await RowAsync(host, inside.Session);
        var untouched = new List<(SessionEntity Row, List<(string Bucket, ETag ETag)> Index)>();
        foreach (var session in new[] { soon, outside })
        {
            var row = await RowAsync(host, session.Session);
            untouched.Add((row, await IndexRowsAsync(row.PartitionKey)));
        }

        Assert.Equal(SessionStore.Bucket(clock.GetUtcNow()), SessionStore.Bucket(untouched[0].Row.DueAt!.Value));
        using var sessionsMetric = new MetricCollector<long>(host.Services.GetRequiredService<IMeterFactory>(), "FunctionsAuth", "functionsauth.sweeper.sessions");

        var summary = await SweepAsync(host);

        Assert.Equal(1, server.Statistics.RefreshRequests);
        Assert.Equal(0, server.Statistics.ReusedRefreshTokens);
        Assert.Equal((SweepSummary.Completed, 2, 1, 1, 1, 0, 0), (summary.Result, summary.Examined, summary.Due, summary.Refreshed, summary.Skipped, summary.Failed, summary.Errors));

        var insideAfter = await RowAsync(host, inside.Session);
        Assert.Equal(insideBefore.Generation + 1, insideAfter.Generation);
        Assert.False(insideAfter.RefreshToken.AsSpan().SequenceEqual(insideBefore.RefreshToken));
        Assert.True(insideAfter.DueAt > clock.GetUtcNow());
        Assert.Equal(insideBefore.LastUsedAt, insideAfter.LastUsedAt);
        Assert.Equal([SessionStore.Bucket(insideAfter.DueAt!.Value)], (await IndexRowsAsync(insideAfter.PartitionKey)).Select(r => r.Bucket));

        foreach (var (row, index) in untouched)
        {
            Assert.Equal(row.ETag, (await host.Services.GetRequiredService<SessionStore>().GetAsync(new SessionKey(row.PartitionKey), default))!.ETag);
            Assert.Equal(index, await IndexRowsAsync(row.PartitionKey));
        }

        // The front end now gets the sweeper's token straight from storage.
        var served = await Expect.TokenAsync(await host.RefreshAsync(inside.Session));
        Assert.False(served.Refreshed);
        Assert.NotEqual(inside.AccessToken, served.AccessToken);
        Assert.Equal(1, server.Statistics.RefreshRequests);

        // One summary event, and the metrics.
        var summaryLine = Assert.Single(host.Logs.Lines, l => l.Contains("Sweeper run ", StringComparison.Ordinal));
        Assert.Contains("Result=completed", summaryLine);
        Assert.Contains("Refreshed=1", summaryLine);
        Assert.Equal(1L, sessionsMetric.GetMeasurementSnapshot().Where(m => m.ContainsTags("outcome")).Where(m => (string?)m.Tags["outcome"] == "refreshed").Sum(m => m.Value));
    }

    [Fact]
    public async Task Sweep_RacingTwentyConcurrentHttpRefreshesOnTwoInstances_OneProviderRefreshPerSession()
    {
        await using var first = await StartHostAsync();
        await using var second = await StartHostAsync();
        var sessions = new List<SessionCreated>();
        for (var i = 0; i < 4; i++)
        {
            sessions.Add(await first.SignInAsync(server, $"racer{i}"));
        }

        // Due for the sweeper, and below the request path's default min_ttl of 60 s.
        clock.Advance(Lifetime - TimeSpan.FromSeconds(30));

        var sweep = SweepAsync(second);
        var requests = sessions.SelectMany(s => Enumerable.Range(0, 20).Select(async i =>
            (s.Session, Answer: await Expect.TokenAsync(await (i % 2 == 0 ? first : second).RefreshAsync(s.Session)))));
        var answers = await Task.WhenAll(requests);
        var summary = await sweep;

        Assert.Equal(sessions.Count, server.Statistics.RefreshRequests);
        Assert.Equal(0, server.Statistics.ReusedRefreshTokens);
        Assert.All(answers.GroupBy(a => a.Session), g => Assert.Single(g.Select(a => a.Answer.AccessToken).Distinct()));
        Assert.Equal((0, 0), (summary.Failed, summary.Errors));
        foreach (var session in sessions)
        {
            Assert.Equal(1, (await RowAsync(first, session.Session)).Generation);
        }
    }

    [Fact]
    public async Task Sweep_TwoInstancesAtOnce_NoSessionRefreshedTwice()
    {
        await using var first = await StartHostAsync();
        await using var second = await StartHostAsync();
        var sessions = new List<SessionCreated>();
        for (var i = 0; i < 10; i++)
        {
            sessions.Add(await first.SignInAsync(server, $"user{i}"));
        }

        clock.Advance(IntoWindow);

        // One instance through the timer function itself, the other through the sweeper.
        var function = new SweeperFunction(first.Services.GetRequiredService<ISweeper>());
        var viaFunction = function.Run(new TimerInfo(), CancellationToken.None);
        var summary = await SweepAsync(second);
        await viaFunction;

        Assert.Equal(sessions.Count, server.Statistics.RefreshRequests);
        Assert.Equal(0, server.Statistics.ReusedRefreshTokens);
        Assert.Equal((0, 0), (summary.Failed, summary.Errors));
        foreach (var session in sessions)
        {
            var row = await RowAsync(first, session.Session);
            Assert.Equal(1, row.Generation);
            Assert.Null(row.LeaseId);
        }

        // Nothing is due any more.
        var again = await SweepAsync(second);
        Assert.Equal(0, again.Due);
        Assert.Equal(sessions.Count, server.Statistics.RefreshRequests);
    }

    [Fact]
    public async Task Sweep_MoreDueThanTheTimeBudgetAllows_StopsCleanlyAndTheNextRunsFinish()
    {
        // Each provider call takes ten (fake) seconds, inside the 15 s provider time-out; the budget is 40 s; one at a time.
        var callDuration = new CallDuration();
        environment.Settings["FunctionsAuth:Sweeper:Parallelism"] = "1";
        environment.Settings["FunctionsAuth:Sweeper:TimeBudget"] = "00:00:40";
        await using var host = await StartHostAsync(b => b.Services.AddHttpClient(OAuthClient.HttpClientName).AddHttpMessageHandler(() => new ClockAdvancingHandler(clock, callDuration)));
        var sessions = new List<SessionCreated>();
        for (var i = 0; i < 8; i++)
        {
            sessions.Add(await host.SignInAsync(server, $"user{i}"));
        }

        clock.Advance(IntoWindow);
        callDuration.Step = TimeSpan.FromSeconds(10);

        var first = await SweepAsync(host);

        Assert.Equal(SweepSummary.BudgetExhausted, first.Result);
        Assert.InRange(first.Refreshed, 1, sessions.Count - 1);
        Assert.Equal(first.Refreshed, server.Statistics.RefreshRequests);
        Assert.Equal(0, first.Errors);
        var rows = await Task.WhenAll(sessions.Select(s => RowAsync(host, s.Session)));
        Assert.All(rows, r => Assert.Null(r.LeaseId));
        Assert.Equal(first.Refreshed, rows.Count(r => r.Generation == 1));

        var refreshed = first.Refreshed;
        for (var run = 0; run < 4 && refreshed < sessions.Count; run++)
        {
            refreshed += (await SweepAsync(host)).Refreshed;
        }

        Assert.Equal(sessions.Count, refreshed);
        Assert.Equal(sessions.Count, server.Statistics.RefreshRequests);
        Assert.Equal(0, server.Statistics.ReusedRefreshTokens);
        Assert.All(await Task.WhenAll(sessions.Select(s => RowAsync(host, s.Session))), r => Assert.Equal(1, r.Generation));
    }

    [Fact]
    public async Task Sweep_CancelledMidRun_StopsAndKeepsEveryRotatedToken()
    {
        await using var provider = await ScriptedProvider.StartAsync();
        for (var i = 0; i < 6; i++)
        {
            provider.Then(new ScriptedResponse(200, Delay: TimeSpan.FromMilliseconds(400)));
        }

        environment.WithScriptedProvider(provider);
        environment.Settings["FunctionsAuth:Sweeper:Parallelism"] = "2";
        await using var host = await StartHostAsync();
        var sessions = new List<SessionCreated>();
        for (var i = 0; i < 6; i++)
        {
            sessions.Add(await host.HandOverAsync(TestEnvironment.ScriptedProvider, $"handed-over-refresh-{i}", $"handed-over-access-{i}", clock.GetUtcNow() + TimeSpan.FromMinutes(5)));
        }

        using var shutdown = new CancellationTokenSource();
        var run = host.Services.GetRequiredService<Sweeper>().RunAsync(shutdown.Token);
        await WaitUntilAsync(() => provider.TokenRequests >= 1);
        await shutdown.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);

        // Every refresh token that reached the provider has its successor stored; nothing is left leased.
        var sent = provider.TokenRequests;
        Assert.InRange(sent, 1, sessions.Count - 1);
        var rows = await Task.WhenAll(sessions.Select(s => RowAsync(host, s.Session)));
        Assert.Equal(sent, rows.Count(r => r.Generation == 1));
        Assert.All(rows, r => Assert.Null(r.LeaseId));

        var next = await SweepAsync(host);
        Assert.Equal(sessions.Count - sent, next.Refreshed);
        Assert.Equal(sessions.Count, provider.TokenRequests);
        Assert.Equal(sessions.Count, provider.PresentedRefreshTokens.Distinct().Count());
    }

    [Fact]
    public async Task Sweep_TransientFailures_BackOffThenMarkFailingWithoutHammering()
    {
        await using var provider = await ScriptedProvider.StartAsync();
        environment.WithScriptedProvider(provider);
        environment.Settings["FunctionsAuth:Sweeper:MaxFailureDuration"] = "00:05:00";
        await using var host = await StartHostAsync();
        var created = await host.HandOverAsync(TestEnvironment.ScriptedProvider, "handed-over-refresh", "handed-over-access", clock.GetUtcNow() + TimeSpan.FromMinutes(5));
        for (var i = 0; i < 30; i++)
        {
            provider.Then(ScriptedResponse.ServerError());
        }

        var first = await SweepAsync(host);
        var afterFirst = await RowAsync(host, created.Session);
        var perRun = provider.TokenRequests;
        Assert.InRange(perRun, 1, ProviderResilience.MaxAttempts);
        Assert.Equal((1, 0), (first.Failed, first.Errors));
        Assert.Equal(1, afterFirst.FailureCount);
        Assert.Equal("server_error", afterFirst.LastError);
        Assert.Equal(SessionStatus.Active, afterFirst.Status);
        Assert.InRange(afterFirst.NextAttemptAt!.Value, clock.GetUtcNow() + TimeSpan.FromSeconds(29), clock.GetUtcNow() + TimeSpan.FromMinutes(1));
        Assert.Equal(afterFirst.NextAttemptAt, afterFirst.DueAt);
        Assert.Equal([SessionStore.Bucket(afterFirst.DueAt!.Value)], (await IndexRowsAsync(afterFirst.PartitionKey)).Select(r => r.Bucket));

        // Backing off: the next run does not retry it (its index row may sit in the current minute: read, not due).
        var second = await SweepAsync(host);
        Assert.Equal((0, 0), (second.Due, second.Failed));
        Assert.Equal(perRun, provider.TokenRequests);
        Assert.Equal(afterFirst.ETag, (await RowAsync(host, created.Session)).ETag);

        clock.Advance(TimeSpan.FromMinutes(2));
        await SweepAsync(host);
        var afterThird = await RowAsync(host, created.Session);
        Assert.Equal(2 * perRun, provider.TokenRequests);
        Assert.Equal(2, afterThird.FailureCount);
        Assert.Equal(afterFirst.FirstFailureAt, afterThird.FirstFailureAt);

        // Failing for longer than MaxFailureDuration: marked, reported, and no longer retried.
        clock.Advance(TimeSpan.FromMinutes(4));
        var fourth = await SweepAsync(host);
        Assert.Equal(3 * perRun, provider.TokenRequests);
        Assert.Equal(1, fourth.MarkedFailing);
        Assert.Equal(SessionStatus.Failing, (await RowAsync(host, created.Session)).Status);
        Assert.Contains(host.Logs.Lines, l => l.Contains("has failed to refresh 3 times in a row", StringComparison.Ordinal));

        clock.Advance(TimeSpan.FromHours(1));
        var fifth = await SweepAsync(host);
        Assert.Equal(0, fifth.Examined);
        Assert.Equal(3 * perRun, provider.TokenRequests);
    }

    [Fact]
    public async Task Sweep_InvalidGrant_ReauthRequiredWithoutRetryThenPurgedAfterRetention()
    {
        await using var host = await StartHostAsync();
        var created = await host.SignInAsync(server, "mallory");
        await server.RevokeGrantsAsync("mallory");
        clock.Advance(IntoWindow);

        var first = await SweepAsync(host);
        var row = await RowAsync(host, created.Session);
        Assert.Equal((1, 0), (first.Reauth, first.Refreshed));
        Assert.Equal(SessionStatus.ReauthRequired, row.Status);
        Assert.Null(row.RefreshToken);
        Assert.Equal([SessionStore.Bucket(row.DueAt!.Value)], (await IndexRowsAsync(row.PartitionKey)).Select(r => r.Bucket));

        var second = await SweepAsync(host);
        Assert.Equal(0, second.Examined);
        Assert.Equal(1, server.Statistics.RefreshRequests);

        // Kept for the front end to read, for the retention period.
        await Expect.ErrorAsync(await host.RefreshAsync(created.Session), HttpStatusCode.Unauthorized, "reauth_required");
        clock.Advance(TimeSpan.FromDays(7) + TimeSpan.FromMinutes(1));
        var third = await SweepAsync(host);

        Assert.Equal(1, third.Purged);
        Assert.Null(await FindRowAsync(host, created.Session));
        Assert.Empty(await IndexRowsAsync(row.PartitionKey));
        Assert.Equal(1, server.Statistics.RefreshRequests);
        Assert.Equal(0, server.Statistics.RevocationRequests);
        await Expect.ErrorAsync(await host.RefreshAsync(created.Session), HttpStatusCode.Unauthorized, "invalid_session");
    }

    [Fact]
    public async Task Sweep_SessionPastItsAbsoluteLifetime_PurgedAndItsGrantRevoked()
    {
        environment.Settings["FunctionsAuth:Sweeper:AbsoluteLifetime"] = "02:00:00";
        await using var host = await StartHostAsync();
        var created = await host.SignInAsync(server, "carol");
        var key = (await RowAsync(host, created.Session)).PartitionKey;
        clock.Advance(TimeSpan.FromHours(2) + TimeSpan.FromMinutes(1));

        var summary = await SweepAsync(host);

        Assert.Equal((1, 0, 0), (summary.Purged, summary.Refreshed, summary.Errors));
        Assert.Null(await FindRowAsync(host, created.Session));
        Assert.Empty(await IndexRowsAsync(key));
        Assert.Equal(0, server.Statistics.RefreshRequests);
        Assert.Equal(1, server.Statistics.RevocationRequests);
    }

    [Fact]
    public async Task Sweep_ScopedTokens_TheOneInUseRefreshedAheadTheIdleOneLeft()
    {
        // Use counts within 15 minutes, recorded at most once a minute; 30-minute tokens are due 20 minutes after issue.
        environment.Settings["FunctionsAuth:ActivityResolution"] = "00:01:00";
        environment.Settings[$"FunctionsAuth:Providers:{TestEnvironment.DemoProvider}:ActivityWindow"] = "00:15:00";
        await using var host = await StartHostAsync();
        AlignToMinute(TimeSpan.FromSeconds(10));
        var created = await host.SignInAsync(server, "alice", "openid offline_access api email");
        clock.Advance(TimeSpan.FromMinutes(1));
        var api = await Expect.TokenAsync(await host.RefreshAsync(created.Session, "api"));
        var email = await Expect.TokenAsync(await host.RefreshAsync(created.Session, "email"));
        Assert.Null((await RowAsync(host, created.Session)).ScopedDueAt);

        // Only "api" is used again: from then on its refresh, 20 minutes after issue, falls within its activity window.
        clock.Advance(TimeSpan.FromMinutes(9));
        Assert.Equal(api.AccessToken, (await Expect.TokenAsync(await host.RefreshAsync(created.Session, "api"))).AccessToken);
        var row = await RowAsync(host, created.Session);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(api.ExpiresAt) - TimeSpan.FromMinutes(10), row.ScopedDueAt!.Value, TimeSpan.FromSeconds(1));
        Assert.Equal(SessionStore.Bucket(row.ScopedDueAt.Value), SessionStore.Bucket(row.DueAt!.Value));
        Assert.Equal(2, server.Statistics.RefreshRequests);

        clock.Advance(TimeSpan.FromMinutes(12));
        var summary = await SweepAsync(host);

        Assert.Equal((1, 1, 0, 0), (summary.Due, summary.Refreshed, summary.Failed, summary.Errors));
        Assert.Equal(3, server.Statistics.RefreshRequests);
        var apiNow = await Expect.TokenAsync(await host.RefreshAsync(created.Session, "api"));
        var emailNow = await Expect.TokenAsync(await host.RefreshAsync(created.Session, "email"));
        var own = await Expect.TokenAsync(await host.RefreshAsync(created.Session));
        Assert.False(apiNow.Refreshed);
        Assert.NotEqual(api.AccessToken, apiNow.AccessToken);
        Assert.Equal("api", apiNow.Scope);
        Assert.Equal(email.AccessToken, emailNow.AccessToken);
        Assert.Equal(created.AccessToken, own.AccessToken);
        Assert.Equal(3, server.Statistics.RefreshRequests);

        // All three were used just now. The session's own token and "email" are past their refresh time: the next run
        // refreshes both, one after the other. "api", refreshed at 22 minutes, is next due at 42, later than its last use
        // counts (37): left alone, and served as it was.
        clock.Advance(TimeSpan.FromMinutes(25));
        var next = await SweepAsync(host);
        Assert.Equal((1, 2, 0), (next.Due, next.Refreshed, next.Errors));
        Assert.Equal(5, server.Statistics.RefreshRequests);
        Assert.Equal(apiNow.AccessToken, (await Expect.TokenAsync(await host.RefreshAsync(created.Session, "api"))).AccessToken);
        Assert.NotEqual(email.AccessToken, (await Expect.TokenAsync(await host.RefreshAsync(created.Session, "email"))).AccessToken);
        Assert.Equal(5, server.Statistics.RefreshRequests);
        Assert.Equal(0, server.Statistics.ReusedRefreshTokens);
    }

    [Fact]
    public async Task Sweep_SessionWithScopedTokensPastItsAbsoluteLifetime_PurgedWithItsScopedRows()
    {
        environment.Settings["FunctionsAuth:Sweeper:AbsoluteLifetime"] = "02:00:00";
        await using var host = await StartHostAsync();
        var created = await host.SignInAsync(server, "carol", "openid offline_access api email");
        await Expect.TokenAsync(await host.RefreshAsync(created.Session, "api"));
        var key = (await RowAsync(host, created.Session)).PartitionKey;
        clock.Advance(TimeSpan.FromHours(2) + TimeSpan.FromMinutes(1));

        var summary = await SweepAsync(host);

        Assert.Equal((1, 0, 0), (summary.Purged, summary.Refreshed, summary.Errors));
        Assert.Empty(await (await environment.SessionsTableAsync()).QueryAsync<TableEntity>(e => e.PartitionKey == key).ToListAsync());
        Assert.Empty(await IndexRowsAsync(key));
    }

    [Fact]
    public async Task Sweep_IdleSession_OnlyKeptAliveUntilItsFrontEndComesBack()
    {
        environment.Settings["FunctionsAuth:Sweeper:ActivityWindow"] = "00:30:00";
        await using var host = await StartHostAsync();
        var created = await host.SignInAsync(server, "dave");

        clock.Advance(IntoWindow);
        await SweepAsync(host);
        Assert.Equal(1, server.Statistics.RefreshRequests);

        // Unused for longer than the activity window: no proactive refresh however often the sweeper runs.
        for (var i = 0; i < 6; i++)
        {
            clock.Advance(TimeSpan.FromMinutes(30));
            Assert.Equal(0, (await SweepAsync(host)).Due);
        }

        Assert.Equal(1, server.Statistics.RefreshRequests);

        // But its refresh token is kept alive.
        clock.Advance(TimeSpan.FromDays(7));
        Assert.Equal(1, (await SweepAsync(host)).Refreshed);
        Assert.Equal(2, server.Statistics.RefreshRequests);

        // The front end comes back: served from storage, and the session is active again.
        var served = await Expect.TokenAsync(await host.RefreshAsync(created.Session));
        Assert.False(served.Refreshed);
        clock.Advance(IntoWindow);
        Assert.Equal(1, (await SweepAsync(host)).Refreshed);
        Assert.Equal(3, server.Statistics.RefreshRequests);
        Assert.Equal(0, server.Statistics.ReusedRefreshTokens);
    }

    [Fact]
    public async Task Sweep_StaleIndexRows_DroppedWithoutProviderCall()
    {
        await using var host = await StartHostAsync();
        var created = await host.SignInAsync(server, "erin");
        var before = await RowAsync(host, created.Session);
        clock.Advance(IntoWindow);

        // Refreshed on the request path, as if its writer had stopped before dropping the old index row.
        Assert.True((await Expect.TokenAsync(await host.RefreshAsync(created.Session, minTtl: 900))).Refreshed);
        var index = await environment.DueIndexTableAsync();
        await index.UpsertEntityAsync(new TableEntity(SessionStore.Bucket(before.DueAt!.Value), before.PartitionKey));

        // And a revoked session whose index row outlived it.
        var gone = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        await index.UpsertEntityAsync(new TableEntity(SessionStore.Bucket(clock.GetUtcNow() - TimeSpan.FromHours(1)), gone));

        var summary = await SweepAsync(host);

        Assert.Equal((2, 0, 0, 0), (summary.IndexHealed, summary.Due, summary.Refreshed, summary.Errors));
        Assert.Equal(1, server.Statistics.RefreshRequests);
        Assert.Empty(await IndexRowsAsync(gone));
        var after = await RowAsync(host, created.Session);
        var remaining = Assert.Single(await IndexRowsAsync(before.PartitionKey));
        Assert.Equal(SessionStore.Bucket(after.DueAt!.Value), remaining.Bucket);
    }

    [Fact]
    public async Task Sweep_RowsUnderAnOldKey_ReEncryptedUnderTheNewestKey()
    {
        await using var oldKeyHost = await StartHostAsync();
        var due = await oldKeyHost.SignInAsync(server, "frank");
        clock.Advance(TimeSpan.FromMinutes(15));
        var notDue = await oldKeyHost.SignInAsync(server, "grace");
        var oldKeyId = await oldKeyHost.Services.GetRequiredService<TokenProtector>().GetCurrentKeyIdAsync(default);
        clock.Advance(IntoWindow - TimeSpan.FromMinutes(15));

        // Rotation: a new key version, newest first; the old one still decrypts.
        environment.Settings["FunctionsAuth:Secrets:token-encryption-key"] = $"{Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32))},{environment.EncryptionKey}";
        await using var host = await StartHostAsync();
        var newKeyId = await host.Services.GetRequiredService<TokenProtector>().GetCurrentKeyIdAsync(default);
        Assert.NotEqual(oldKeyId, newKeyId);

        // The not-due session is passed by the run through a lagging index row in the current minute.
        var notDueBefore = await RowAsync(host, notDue.Session);
        await (await environment.DueIndexTableAsync()).UpsertEntityAsync(new TableEntity(SessionStore.Bucket(clock.GetUtcNow()), notDueBefore.PartitionKey));

        var summary = await SweepAsync(host);

        Assert.Equal((1, 1, 0), (summary.Refreshed, summary.ReEncrypted, summary.Errors));
        Assert.Equal(1, server.Statistics.RefreshRequests);
        foreach (var session in new[] { due, notDue })
        {
            var row = await RowAsync(host, session.Session);
            Assert.Equal(newKeyId, row.KeyId);
            Assert.Equal(newKeyId, TokenProtector.ReadKeyId(row.RefreshToken));
            Assert.Equal(newKeyId, TokenProtector.ReadKeyId(row.AccessToken));
        }

        // Same tokens, new ciphertexts: the front end is served the token it had, from storage.
        Assert.Equal(notDueBefore.Generation, (await RowAsync(host, notDue.Session)).Generation);
        var served = await Expect.TokenAsync(await host.RefreshAsync(notDue.Session));
        Assert.Equal(notDue.AccessToken, served.AccessToken);
        Assert.False(served.Refreshed);
    }

    [Fact]
    public async Task Sweep_ScopedTokenLeftUnderARemovedKey_FetchedAgainAndTheSessionUnaffected()
    {
        await using var oldKeyHost = await StartHostAsync();
        var created = await oldKeyHost.SignInAsync(server, "heidi", "openid offline_access api email");
        var scoped = await Expect.TokenAsync(await oldKeyHost.RefreshAsync(created.Session, "api"));
        var newKey = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

        // Rotation: the scan rewrites the session row under the new key and leaves the scoped row as it is.
        environment.Settings["FunctionsAuth:Secrets:token-encryption-key"] = $"{newKey},{environment.EncryptionKey}";
        await using (var rotating = await StartHostAsync())
        {
            Assert.Equal((1, 0), ((await SweepAsync(rotating)).ReEncrypted, server.Statistics.RefreshRequests - 1));
        }

        // The old key is removed: the scoped token no longer decrypts and is fetched again; the session reads fine.
        environment.Settings["FunctionsAuth:Secrets:token-encryption-key"] = newKey;
        await using var host = await StartHostAsync();
        var again = await Expect.TokenAsync(await host.RefreshAsync(created.Session, "api"));
        var own = await Expect.TokenAsync(await host.RefreshAsync(created.Session));

        Assert.True(again.Refreshed);
        Assert.NotEqual(scoped.AccessToken, again.AccessToken);
        Assert.Equal("api", again.Scope);
        Assert.False(own.Refreshed);
        Assert.Equal(created.AccessToken, own.AccessToken);
        Assert.Equal(2, server.Statistics.RefreshRequests);
        Assert.False((await Expect.TokenAsync(await host.RefreshAsync(created.Session, "api"))).Refreshed);
    }

    private Task<TestHost> StartHostAsync(Action<Microsoft.AspNetCore.Builder.WebApplicationBuilder>? configure = null) =>
        environment.StartHostAsync(builder =>
        {
            builder.Services.AddSingleton<TimeProvider>(clock);
            configure?.Invoke(builder);
        });

    /// <summary>Moves the clock to <paramref name="second"/> past the next full minute, so a test can place due times within one bucket.</summary>
    private void AlignToMinute(TimeSpan second)
    {
        var now = clock.GetUtcNow();
        var minute = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, TimeSpan.Zero);
        clock.Advance(minute.AddMinutes(1) + second - now);
    }

    private static Task<SweepSummary> SweepAsync(TestHost host) => host.Services.GetRequiredService<Sweeper>().SweepAsync(CancellationToken.None);

    private static async Task<SessionEntity?> FindRowAsync(TestHost host, string handle)
    {
        Assert.True(SessionHandle.TryGetKey(handle, out var key));
        return await host.Services.GetRequiredService<SessionStore>().GetAsync(key, default);
    }

    private static async Task<SessionEntity> RowAsync(TestHost host, string handle) =>
        await FindRowAsync(host, handle) ?? throw new InvalidOperationException("The session row is gone.");

    private async Task<List<(string Bucket, ETag ETag)>> IndexRowsAsync(string sessionKey)
    {
        var rows = new List<(string, ETag)>();
        await foreach (var row in (await environment.DueIndexTableAsync()).QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"RowKey eq {sessionKey}")))
        {
            rows.Add((row.PartitionKey, row.ETag));
        }

        return rows;
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            await Task.Delay(10, timeout.Token);
        }
    }

    private sealed class CallDuration
    {
        public TimeSpan Step { get; set; }
    }

    /// <summary>Moves the fake clock forward as each provider request goes out: the call "takes" that long.</summary>
    private sealed class ClockAdvancingHandler(DrivenClock clock, CallDuration duration) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (duration.Step > TimeSpan.Zero)
            {
                clock.Advance(duration.Step);
            }

            return base.SendAsync(request, cancellationToken);
        }
    }
}
