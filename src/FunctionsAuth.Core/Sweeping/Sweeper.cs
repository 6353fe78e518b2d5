using System.Threading.Channels;
using FunctionsAuth.Configuration;
using FunctionsAuth.Diagnostics;
using FunctionsAuth.OAuth;
using FunctionsAuth.Protection;
using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Sweeping;

/// <summary>
/// The timer-triggered sweeper. One run reads the due index up to now (one range scan: its cost grows with the due
/// sessions, not with the stored ones) and, for each row, reads the session and either refreshes it through the
/// coordinator the request path uses (same single-flight, same lease), purges it, drops a stale index row, or leaves
/// it alone (not due: no provider call, no write). Rows still under an old encryption key are re-encrypted as the run
/// passes them. Bounded parallelism, a per-provider rate limit, a time budget; one failing session never stops a run.
/// </summary>
internal sealed class Sweeper : ISweeper
{
    /// <summary>Index rows per query page: one storage read per this many due sessions.</summary>
    internal const int PageSize = 1000;

    private readonly SessionStore store;
    private readonly SessionCrypto crypto;
    private readonly RefreshCoordinator coordinator;
    private readonly OAuthClient oauth;
    private readonly TokenProtector protector;
    private readonly FunctionsAuthMetrics metrics;
    private readonly TimeProvider time;
    private readonly IOptions<FunctionsAuthOptions> options;
    private readonly ILogger<Sweeper> logger;

    public Sweeper(
        SessionStore store,
        SessionCrypto crypto,
        RefreshCoordinator coordinator,
        OAuthClient oauth,
        TokenProtector protector,
        FunctionsAuthMetrics metrics,
        TimeProvider time,
        IOptions<FunctionsAuthOptions> options,
        ILogger<Sweeper> logger)
    {
        this.store = store;
        this.crypto = crypto;
        this.coordinator = coordinator;
        this.oauth = oauth;
        this.protector = protector;
        this.metrics = metrics;
        this.time = time;
        this.options = options;
        this.logger = logger;
    }

    /// <summary>
    /// One run, as the timer function calls it. Sessions that failed with an exception are reported together at the
    /// end (<see cref="AggregateException"/>), after every other session was handled; cancellation ends the run with
    /// <see cref="OperationCanceledException"/> once the sessions already at the provider have been saved.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var summary = await SweepAsync(cancellationToken);
        cancellationToken.ThrowIfCancellationRequested();
        if (summary.Errors > 0)
        {
            throw new AggregateException($"The sweeper could not handle {summary.Errors} session(s) (the first {summary.Exceptions.Count} attached); every other session was handled.", summary.Exceptions);
        }
    }

    /// <summary>One run; returns its summary (also logged as one event and exported as metrics) instead of throwing.</summary>
    internal async Task<SweepSummary> SweepAsync(CancellationToken cancellationToken)
    {
        var opts = options.Value;
        var started = time.GetTimestamp();
        var now = time.GetUtcNow();

        // The budget stops the run taking new sessions; the ones in hand finish, and the next run picks up the rest.
        using var budget = new CancellationTokenSource(opts.Sweeper.TimeBudget, time);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, budget.Token);
        using var limiter = new ProviderPacer(opts.Sweeper.ProviderRequestsPerSecond, time);
        var run = new SweepRun(RefreshDemand.NoLongerDue(opts), limiter, store, logger);
        string result;
        try
        {
            run.CurrentKeyId = await protector.GetCurrentKeyIdAsync(stop.Token);

            // Two stages: triage reads each indexed session (and does everything that needs no provider call) a little
            // ahead of the refresh stage, whose workers then spend their time on the provider, not on reading rows.
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = opts.Sweeper.Parallelism, CancellationToken = stop.Token };
            var dueSessions = Channel.CreateBounded<DueSession>(new BoundedChannelOptions(opts.Sweeper.Parallelism) { SingleWriter = false, SingleReader = false });
            var triage = TriageAllAsync(run, now, parallel, dueSessions.Writer);
            var refresh = Parallel.ForEachAsync(dueSessions.Reader.ReadAllAsync(stop.Token), parallel, (due, _) => new ValueTask(RefreshOneAsync(run, due, stop.Token)));
            await Task.WhenAll(triage, refresh);
            result = SweepSummary.Completed;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Parallel.ForEachAsync returns only once every worker has finished: nothing is left half done. Sessions
            // triaged but not yet refreshed are still due, and the next run takes them.
            result = cancellationToken.IsCancellationRequested ? SweepSummary.Cancelled : SweepSummary.BudgetExhausted;
        }
        catch (Exception ex)
        {
            // The index or the key ring could not be read (storage or Key Vault unreachable): report it with the rest.
            Log.RunFailed(logger, ex);
            run.Error(ex);
            result = SweepSummary.FailedResult;
        }

        try
        {
            await run.Cleanup.FlushAsync();
        }
        catch (Exception ex)
        {
            // Rows not removed are stale at worst; the next run drops them.
            Log.IndexCleanupFailed(logger, ex);
            run.Error(ex);
        }

        return Report(run.ToSummary(result, time.GetElapsedTime(started)));
    }

    private async Task TriageAllAsync(SweepRun run, DateTimeOffset now, ParallelOptions parallel, ChannelWriter<DueSession> dueSessions)
    {
        try
        {
            await Parallel.ForEachAsync(store.QueryDueAsync(now, PageSize, parallel.CancellationToken), parallel, (entry, stop) => new ValueTask(TriageOneAsync(run, entry, dueSessions, stop)));
        }
        finally
        {
            dueSessions.Complete();
        }
    }

    /// <summary>Handles one index row; any failure is recorded and the run goes on.</summary>
    private async Task TriageOneAsync(SweepRun run, DueIndexEntry entry, ChannelWriter<DueSession> dueSessions, CancellationToken stop)
    {
        run.Examined();
        try
        {
            await TriageAsync(run, entry, dueSessions, stop);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopped before this session reached the provider: it is still due, and the next run takes it.
        }
        catch (Exception ex)
        {
            Log.SessionFailed(logger, entry.Key, ex);
            run.Error(ex);
        }
    }

    private async Task TriageAsync(SweepRun run, DueIndexEntry entry, ChannelWriter<DueSession> dueSessions, CancellationToken stop)
    {
        var session = await store.GetAsync(entry.Key, stop);
        var now = time.GetUtcNow();
        if (session is null)
        {
            // Deleted (revoked) after its index row was written, or between the revocation's two writes.
            await run.Cleanup.RemoveAsync(entry, stale: true);
            return;
        }

        if (session.DueAt is not { } dueAt || SessionStore.Bucket(dueAt) != entry.Bucket)
        {
            // The index lags the row: it moved on (refreshed elsewhere, or a writer stopped between its index writes).
            // The row's own index entry stands for it; this one only needs dropping.
            await run.Cleanup.RemoveAsync(entry, stale: true);
            await ReEncryptIfNeededAsync(run, session, now, stop);
            return;
        }

        var action = RefreshRules.Decide(session, run.Demand, now);
        if (action == RowAction.WaitForLease)
        {
            // Being refreshed right now (request path or another instance): its lease owner moves the index row.
            run.Skipped();
            return;
        }

        if (RefreshSchedule.PurgeAt(session, options.Value.Sweeper) <= now)
        {
            await PurgeAsync(run, entry, session, now, stop);
            return;
        }

        if (action != RowAction.Refresh || dueAt > now)
        {
            // Not due (or due later within this minute's bucket: never refreshed early), left for the next run.
            run.Skipped();
            await ReEncryptIfNeededAsync(run, session, now, stop);
            return;
        }

        if (!run.TryBeginRefresh(entry.Key))
        {
            run.Skipped();
            return;
        }

        await dueSessions.WriteAsync(new DueSession(entry, session), stop);
    }

    private async Task RefreshOneAsync(SweepRun run, DueSession due, CancellationToken stop)
    {
        try
        {
            run.Due();
            using var permit = await run.ProviderLimiter.AcquireAsync(due.Session.Provider, 1, stop);
            if (!permit.IsAcquired)
            {
                run.Skipped();
                return;
            }

            // From here the run's stop signal no longer applies: once a refresh token is sent, its successor is saved
            // before this returns, so neither the budget nor a shutdown can lose a rotated token. The row read in
            // triage saves the flight a read; its ETag makes the lease claim fail (and the flight re-read) if it changed.
            var outcome = await coordinator.EnsureCurrentAsync(due.Entry.Key, run.Demand, CancellationToken.None, due.Session);
            run.Record(outcome);

            // The flight moved the row (or it is gone) and left the scanned index row to this run (see RefreshDemand).
            if (outcome.Session?.DueAt is not { } movedTo || SessionStore.Bucket(movedTo) != due.Entry.Bucket)
            {
                await run.Cleanup.RemoveAsync(due.Entry, stale: false);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopped while waiting for the rate limit: still due, and the next run takes it.
        }
        catch (Exception ex)
        {
            Log.SessionFailed(logger, due.Entry.Key, ex);
            run.Error(ex);
        }
    }

    /// <summary>Deletes the row (conditionally), its index row, and revokes a still-live grant at the provider (best effort).</summary>
    private async Task PurgeAsync(SweepRun run, DueIndexEntry entry, SessionEntity session, DateTimeOffset now, CancellationToken stop)
    {
        string? refreshToken = null;
        if (session.RefreshToken is not null && session.Status is SessionStatus.Active or SessionStatus.Failing)
        {
            try
            {
                refreshToken = await crypto.ReadRefreshTokenAsync(session, stop);
            }
            catch (TokenProtectionException)
            {
                // Nothing to revoke with; the row goes anyway.
                Log.UndecryptableSession(logger, entry.Key, session.KeyId ?? "");
            }
        }

        // Conditional on the ETag read: a row that changed meanwhile (used, refreshed) is looked at again next run.
        if (await store.TryDeleteAsync(session, CancellationToken.None) != UpdateResult.Updated)
        {
            run.Skipped();
            return;
        }

        await run.Cleanup.RemoveAsync(entry, stale: false);
        run.Purged();
        var reason = session.CreatedAt + options.Value.Sweeper.AbsoluteLifetime <= now ? "absolute_lifetime" : "retention";
        Log.SessionPurged(logger, entry.Key, session.Provider, reason);
        if (refreshToken is null)
        {
            return;
        }

        try
        {
            using var permit = await run.ProviderLimiter.AcquireAsync(session.Provider, 1, stop);
            if (permit.IsAcquired)
            {
                // RFC 7009, best effort: the session is gone either way; a grant left alive at the provider is only waste.
                await oauth.RevokeAsync(session.Provider, refreshToken, "refresh_token", CancellationToken.None);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>Rewrites both tokens under the newest key, conditionally: a refresh meanwhile wins (and wrote under the newest key itself).</summary>
    private async Task ReEncryptIfNeededAsync(SweepRun run, SessionEntity session, DateTimeOffset now, CancellationToken stop)
    {
        if (session.RefreshToken is null || session.KeyId == run.CurrentKeyId || session.IsLeased(now))
        {
            return;
        }

        var key = new SessionKey(session.PartitionKey);
        string refreshToken;
        string? accessToken;
        try
        {
            refreshToken = await crypto.ReadRefreshTokenAsync(session, stop);
            accessToken = await crypto.ReadAccessTokenAsync(session, stop);
        }
        catch (TokenProtectionException)
        {
            Log.UndecryptableSession(logger, key, session.KeyId ?? "");
            return;
        }

        var updated = session.Clone();
        await crypto.WriteTokensAsync(updated, accessToken, refreshToken, stop);
        if (await coordinator.SaveAsync(session, updated) == UpdateResult.Updated)
        {
            run.ReEncrypted();
            Log.SessionReEncrypted(logger, key, session.KeyId ?? "", updated.KeyId ?? "");
        }
    }

    private SweepSummary Report(SweepSummary summary)
    {
        var level = summary.Result == SweepSummary.Completed && summary.Failed == 0 && summary.Errors == 0 ? LogLevel.Information : LogLevel.Warning;
        Log.RunCompleted(
            logger,
            level,
            summary.Result,
            (long)summary.Duration.TotalMilliseconds,
            summary.Examined,
            summary.Due,
            summary.Refreshed,
            summary.Skipped,
            summary.Failed,
            summary.MarkedFailing,
            summary.Reauth,
            summary.Purged,
            summary.ReEncrypted,
            summary.IndexHealed,
            summary.Errors);
        metrics.SweeperRun(summary.Duration, summary.Result);
        metrics.SweeperSessions("refreshed", summary.Refreshed);
        metrics.SweeperSessions("skipped", summary.Skipped);
        metrics.SweeperSessions("failed", summary.Failed);
        metrics.SweeperSessions("marked_failing", summary.MarkedFailing);
        metrics.SweeperSessions("reauth_required", summary.Reauth);
        metrics.SweeperSessions("purged", summary.Purged);
        metrics.SweeperSessions("reencrypted", summary.ReEncrypted);
        metrics.SweeperSessions("index_healed", summary.IndexHealed);
        metrics.SweeperErrors(summary.Errors);
        return summary;
    }

    /// <summary>An index row whose session triage found due for a refresh, with the row as read.</summary>
    private readonly record struct DueSession(DueIndexEntry Entry, SessionEntity Session);
}
