using System.Diagnostics.Metrics;
using System.Net;
using CloudNative.CloudEvents;
using FunctionsAuth.Diagnostics;
using FunctionsAuth.Events;
using FunctionsAuth.Storage;
using FunctionsAuth.Sweeping;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace FunctionsAuth.Tests.Events;

/// <summary>
/// Each transition a real OAuth server can cause (its refusal of a revoked grant, our revocation, the sweeper's purge)
/// puts exactly one CloudEvent on a real Azurite queue, with the provider, the provider's error code and the app's
/// subject, and never a token or handle.
/// </summary>
public sealed class SessionEventsTests : DemoProviderTestBase
{
    [Fact]
    public async Task Refresh_ProviderRefusesTheGrant_OneReauthRequiredEventWithProviderReasonAndSubject()
    {
        var created = await Host.SignInWithSubjectAsync(Server, "alice", "user-42");
        await Server.RevokeGrantsAsync("alice");
        Environment.Clock.Advance(Lifetime);

        await Expect.ErrorAsync(await Host.RefreshAsync(created.Session), HttpStatusCode.Unauthorized, "reauth_required");
        await Expect.ErrorAsync(await Host.RefreshAsync(created.Session), HttpStatusCode.Unauthorized, "reauth_required");

        var reauth = Assert.Single(await Host.QueuedEventsAsync(Environment));
        var row = await RowAsync(created.Session);
        Assert.Equal(CloudEventsSpecVersion.V1_0, reauth.SpecVersion);
        Assert.Equal("functionsauth.session.reauth_required", reauth.Type);
        Assert.Equal(new Uri("/functionsauth", UriKind.Relative), reauth.Source);
        Assert.Equal("user-42", reauth.Subject);
        Assert.Equal("application/json", reauth.DataContentType);
        Assert.Matches("^[0-9a-f]{32}$", reauth.Id);
        Assert.Equal(row.StatusChangedAt!.Value, reauth.Time!.Value, TimeSpan.FromMilliseconds(1));
        var data = EventsTestSupport.DataOf(reauth);
        Assert.Equal(TestEnvironment.DemoProvider, data.GetProperty("provider").GetString());
        Assert.Equal("invalid_grant", data.GetProperty("reason").GetString());
        Assert.Equal("user-42", data.GetProperty("subject").GetString());
        Assert.Equal(KeyOf(created.Session).LogId, data.GetProperty("session").GetString());
    }

    [Fact]
    public async Task Revoke_OneRevokedEvent_AndRevokingAgainEmitsNothing()
    {
        var created = await Host.SignInWithSubjectAsync(Server, "bob", "user-7");

        await Expect.StatusAsync(await Host.RevokeAsync(created.Session), HttpStatusCode.NoContent);
        await Expect.StatusAsync(await Host.RevokeAsync(created.Session), HttpStatusCode.NoContent);

        var revoked = Assert.Single(await Host.QueuedEventsAsync(Environment));
        Assert.Equal("functionsauth.session.revoked", revoked.Type);
        Assert.Equal("user-7", revoked.Subject);
        var data = EventsTestSupport.DataOf(revoked);
        Assert.Equal(TestEnvironment.DemoProvider, data.GetProperty("provider").GetString());
        Assert.False(data.TryGetProperty("reason", out _));
    }

    [Fact]
    public async Task Session_WithoutSubject_EventsCarryNoSubject()
    {
        var created = await Host.SignInAsync(Server, "carol");

        await Expect.StatusAsync(await Host.RevokeAsync(created.Session), HttpStatusCode.NoContent);

        var revoked = Assert.Single(await Host.QueuedEventsAsync(Environment));
        Assert.Null(revoked.Subject);
        Assert.Equal(System.Text.Json.JsonValueKind.Null, EventsTestSupport.DataOf(revoked).GetProperty("subject").ValueKind);
    }

    [Fact]
    public async Task Sweeper_PurgesAReauthRequiredSessionAfterRetention_OnePurgedEventAfterTheReauthRequiredOne()
    {
        var created = await Host.SignInWithSubjectAsync(Server, "dave", "user-9");
        await Server.RevokeGrantsAsync("dave");
        Environment.Clock.Advance(Lifetime);
        await Expect.ErrorAsync(await Host.RefreshAsync(created.Session), HttpStatusCode.Unauthorized, "reauth_required");
        Environment.Clock.Advance(TimeSpan.FromDays(7) + TimeSpan.FromMinutes(1));

        var summary = await Host.Services.GetRequiredService<Sweeper>().SweepAsync(CancellationToken.None);
        var again = await Host.Services.GetRequiredService<Sweeper>().SweepAsync(CancellationToken.None);

        Assert.Equal((1, 0), (summary.Purged, again.Purged));
        var events = await Host.QueuedEventsAsync(Environment);
        Assert.Equal(["functionsauth.session.reauth_required", "functionsauth.session.purged"], events.Select(e => e.Type));
        var purged = events[1];
        Assert.Equal("user-9", purged.Subject);
        Assert.Equal("retention", EventsTestSupport.DataOf(purged).GetProperty("cause").GetString());
        Assert.NotEqual(events[0].Id, purged.Id);
    }

    [Fact]
    public async Task Events_AndTheLog_HoldNoTokenHandleOrSessionKey()
    {
        var created = await Host.SignInWithSubjectAsync(Server, "erin", "user-11");
        var firstRefreshToken = await StoredRefreshTokenAsync(created.Session);
        Environment.Clock.Advance(Lifetime - TimeSpan.FromSeconds(30));
        var refreshed = await Expect.TokenAsync(await Host.RefreshAsync(created.Session));
        var rotatedRefreshToken = await StoredRefreshTokenAsync(created.Session);
        await Server.RevokeGrantsAsync("erin");
        Environment.Clock.Advance(Lifetime);
        await Expect.ErrorAsync(await Host.RefreshAsync(created.Session), HttpStatusCode.Unauthorized, "reauth_required");
        var other = await Host.SignInWithSubjectAsync(Server, "frank", "user-12");
        await Expect.StatusAsync(await Host.RevokeAsync(other.Session), HttpStatusCode.NoContent);

        var queue = (await Azurite.CreateQueueServiceClientAsync()).GetQueueClient(Environment.EventsQueueName);
        Assert.Equal(2, (await Host.QueuedEventsAsync(Environment)).Count);
        var raw = string.Join('\n', (await queue.PeekMessagesAsync(32)).Value.Select(m => m.Body.ToString())) + Host.Logs.AllText;
        var secrets = new[]
        {
            created.Session, other.Session, created.AccessToken, created.IdToken!, other.AccessToken, refreshed.AccessToken,
            firstRefreshToken, rotatedRefreshToken, TestEnvironment.ClientSecret, Environment.EncryptionKey,
            KeyOf(created.Session).Value, KeyOf(other.Session).Value,
        };
        Assert.All(secrets, secret => Assert.DoesNotContain(secret, raw, StringComparison.Ordinal));
    }

    [Fact]
    public void EventId_IsAFunctionOfTheTransition_SameRowSameId()
    {
        var row = new SessionEntity { PartitionKey = new string('a', 64), Provider = "demo", Generation = 3, StatusChangedAt = DateTimeOffset.UnixEpoch.AddDays(1), LastError = "invalid_grant" };
        var later = DateTimeOffset.UnixEpoch.AddDays(2);

        var first = SessionEvent.For(SessionEventKinds.ReauthRequired, row, row.StatusChangedAt!.Value, row.LastError);
        var retried = SessionEvent.For(SessionEventKinds.ReauthRequired, row.Clone(), row.StatusChangedAt.Value, row.LastError);
        var nextGeneration = SessionEvent.For(SessionEventKinds.ReauthRequired, new SessionEntity { PartitionKey = row.PartitionKey, Provider = "demo", Generation = 4, StatusChangedAt = row.StatusChangedAt }, later);
        var otherKind = SessionEvent.For(SessionEventKinds.Revoked, row, row.StatusChangedAt.Value);

        Assert.Equal(first.Id, retried.Id);
        Assert.Equal(first, retried);
        Assert.NotEqual(first.Id, nextGeneration.Id);
        Assert.NotEqual(first.Id, otherKind.Id);
        Assert.DoesNotContain(row.PartitionKey, first.Id, StringComparison.Ordinal);
    }

    [Fact]
    public void EncodedEvent_DecodesWithTheCloudEventsSdkWithTheSameId()
    {
        var row = new SessionEntity { PartitionKey = new string('b', 64), Provider = "demo", Subject = "user-1", FirstFailureAt = DateTimeOffset.UnixEpoch, LastError = RefreshCoordinatorPrefix + "timeout" };
        var failing = SessionEvent.For(SessionEventKinds.Failing, row, DateTimeOffset.UnixEpoch.AddHours(25), row.LastError);

        var decoded = EventsTestSupport.Decode(SessionEventFormat.Encode(failing, new Uri("https://auth.example/functionsauth")));

        Assert.Equal(failing.Id, decoded.Id);
        Assert.Equal("functionsauth.session.failing", decoded.Type);
        Assert.Equal(DateTimeOffset.UnixEpoch.AddHours(25), decoded.Time);
        Assert.Equal("timeout", EventsTestSupport.DataOf(decoded).GetProperty("reason").GetString());
    }

    private const string RefreshCoordinatorPrefix = FunctionsAuth.Sessions.RefreshCoordinator.OutcomeUnknownPrefix;
}

/// <summary>Emitting never blocks or fails the refresh it reports: with the queue endpoint cut, the refresh answers and the lost event is logged and counted.</summary>
public sealed class EventQueueOutageTests : DemoProviderTestBase
{
    private TcpProxy proxy = null!;

    protected override async Task<TestEnvironment> CreateEnvironmentAsync()
    {
        var environment = await TestEnvironment.CreateAsync();
        (proxy, var proxied) = TcpProxy.InFrontOf(environment.ConnectionString, "Queue");
        environment.Settings["FunctionsAuth:Storage:ConnectionString"] = proxied;
        return environment;
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await proxy.DisposeAsync();
    }

    [Fact]
    public async Task QueueUnreachable_RefreshStillAnswersReauthRequired_AndTheLostEventIsLoggedAndCounted()
    {
        using var events = new MetricCollector<long>(Host.Services.GetRequiredService<IMeterFactory>(), FunctionsAuthMetrics.MeterName, "functionsauth.events");
        var lost = await Host.SignInWithSubjectAsync(Server, "grace", "user-13");
        await Server.RevokeGrantsAsync("grace");
        Environment.Clock.Advance(Lifetime);
        proxy.Cut();

        await Expect.ErrorAsync(await Host.RefreshAsync(lost.Session), HttpStatusCode.Unauthorized, "reauth_required");
        await Host.Services.GetRequiredService<SessionEventPublisher>().WhenIdleAsync(CancellationToken.None);

        Assert.Contains(Host.Logs.Lines, l => l.Contains("could not be enqueued", StringComparison.Ordinal) && l.Contains(KeyOf(lost.Session).LogId, StringComparison.Ordinal));
        Assert.Contains(events.GetMeasurementSnapshot(), m => m.Value == 1 && m.MatchesTags(("kind", "reauth_required"), ("result", "failed")));

        // Back up: the next transition goes onto the queue; the lost one does not come back (at-least-once starts there).
        proxy.Restore();
        var kept = await Host.SignInWithSubjectAsync(Server, "heidi", "user-14");
        await Expect.StatusAsync(await Host.RevokeAsync(kept.Session), HttpStatusCode.NoContent);
        var revoked = Assert.Single(await Host.QueuedEventsAsync(Environment));
        Assert.Equal(("functionsauth.session.revoked", "user-14"), (revoked.Type, revoked.Subject));
        Assert.Contains(events.GetMeasurementSnapshot(), m => m.MatchesTags(("kind", "revoked"), ("result", "enqueued")));
    }
}

internal static class MeasurementTags
{
    public static bool MatchesTags(this CollectedMeasurement<long> measurement, params (string Key, string Value)[] tags) =>
        tags.All(t => measurement.Tags.TryGetValue(t.Key, out var value) && Equals(value, t.Value));
}
