using System.Threading.RateLimiting;
using System.Threading.Channels;
using FunctionsAuth.Configuration;
using FunctionsAuth.Diagnostics;
using FunctionsAuth.Events;
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
internal sealed class Sweeper : ISweeper, ISweepWorker
{
    /// <summary>Index rows per query page: one storage read per this many due sessions.</summary>
    internal const int PageSize = 1000;

    private readonly SessionStore store;
    private readonly SessionCrypto crypto;
    private readonly RefreshCoordinator coordinator;
    private readonly OAuthClient oauth;
    private readonly TokenProtector protector;
    private readonly ISessionEvents events;
    private readonly ReEncryptionScan reEncryption;
    private readonly FunctionsAuthMetrics metrics;
    private readonly TimeProvider time;
    private readonly IOptions<FunctionsAuthOptions> options;
    private readonly ILogger<Sweeper> logger;
    private readonly SweepQueue queue;
    private readonly ProviderRateLimits rateLimits;

    public Sweeper(
        SessionStore store,
        SessionCrypto crypto,
        RefreshCoordinator coordinator,
        OAuthClient oauth,
        TokenProtector protector,
        ISessionEvents events,
        ReEncryptionScan reEncryption,
        FunctionsAuthMetrics metrics,
        TimeProvider time,
        IOptions<FunctionsAuthOptions> options,
        ILogger<Sweeper> logger,
        SweepQueue queue,
        ProviderRateLimits rateLimits)
    {
        this.store = store;
        this.crypto = crypto;
        this.coordinator = coordinator;
        this.oauth = oauth;
        this.protector = protector;
        this.events = events;
        this.reEncryption = reEncryption;
        this.metrics = metrics;
        this.time = time;
        this.options = options;
        this.logger = logger;
        this.queue = queue;
        this.rateLimits = rateLimits;
    }

    /// <summary>
    /// One run, as the timer function calls it. Sessions that failed with an exception are reported together at the
    /// end (<see cref="AggregateException"/>), after every other session was handled; cancellation ends the run with
    /// <see cref="OperationCanceledException"/> once the sessions already at the provider have been saved.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var plan = await PlanAsync(cancellationToken);
        cancellationToken.ThrowIfCancellationRequested();
        if (plan.InProcess is { Errors: > 0 } summary)
        {
            throw new AggregateException($"The sweeper could not handle {summary.Errors} session(s) (the first {summary.Exceptions.Count} attached); every other session was handled.", summary.Exceptions);
        }
    }

    /// <summary>
    /// The timer's run: reads the due index and either sweeps in process (<see cref="SweepFanOut.Auto"/> below the
    /// threshold with no work item queued, or <see cref="SweepFanOut.InProcess"/>, or no queue configured) or enqueues the
    /// rows as work items. It plans every due row each time, even rows of items still queued: the index is the truth,
    /// so a worker that died with an item costs its sessions at most until the next run, and a row planned twice costs
    /// a read. The backlog is reported, since a lasting one means the workers cannot keep up.
    /// </summary>
    internal async Task<SweepPlan> PlanAsync(CancellationToken cancellationToken)
    {
        var sweeper = options.Value.Sweeper;
        if (sweeper.FanOut == SweepFanOut.InProcess || !queue.IsConfigured)
        {
            return new SweepPlan(await SweepAsync(cancellationToken), 0, 0, 0);
        }

        var started = time.GetTimestamp();
        using var budget = new CancellationTokenSource(sweeper.TimeBudget, time);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, budget.Token);
        var backlog = await queue.CountAsync(stop.Token);

        var now = time.GetUtcNow();
        await using var rows = store.QueryDueAsync(now, PageSize, stop.Token).GetAsyncEnumerator(stop.Token);
        var buffered = new List<DueIndexEntry>();

        // In process only when nothing is queued: then no worker holds an item, and the run may take the whole rate limit.
        var inProcessUpTo = sweeper.FanOut == SweepFanOut.Auto && backlog == 0 ? sweeper.FanOutThreshold : -1;
        var more = true;
        while (buffered.Count <= inProcessUpTo && (more = await rows.MoveNextAsync()))
        {
            buffered.Add(rows.Current);
        }

        if (!more)
        {
            var local = buffered;
            return new SweepPlan(await SweepAsync(cancellationToken, local), 0, 0, backlog);
        }

        // At least as many items as instances may work on them (when there are rows enough), so every instance the
        // platform adds gets a share; the shares of the rate limit are fixed per instance.
        var fill = sweeper.MaxInstances * sweeper.WorkItemSize;
        while (buffered.Count < fill && (more = await rows.MoveNextAsync()))
        {
            buffered.Add(rows.Current);
        }

        var size = more ? sweeper.WorkItemSize : Math.Clamp((buffered.Count + sweeper.MaxInstances - 1) / sweeper.MaxInstances, 1, sweeper.WorkItemSize);
        var items = 0;
        var planned = 0;
        var sending = new List<Task>();
        async Task SendAsync(List<DueIndexEntry> chunk)
        {
            await queue.EnqueueAsync(new SweepWorkItem(now, chunk), stop.Token);
            Interlocked.Increment(ref items);
            Interlocked.Add(ref planned, chunk.Count);
        }

        // A few sends in flight: a large run is thousands of messages, each its own request.
        using var gate = new SemaphoreSlim(sweeper.Parallelism);
        async Task SendGatedAsync(List<DueIndexEntry> chunk)
        {
            await gate.WaitAsync(stop.Token);
            try
            {
                await SendAsync(chunk);
            }
            finally
            {
                gate.Release();
            }
        }

        string result;
        try
        {
            var next = new List<DueIndexEntry>(size);
            void Add(DueIndexEntry row)
            {
                next.Add(row);
                if (next.Count == size)
                {
                    sending.Add(SendGatedAsync(next));
                    next = new List<DueIndexEntry>(size);
                }
            }

            buffered.ForEach(Add);
            while (more && (more = await rows.MoveNextAsync()))
            {
                Add(rows.Current);
            }

            if (next.Count > 0)
            {
                sending.Add(SendGatedAsync(next));
            }

            await Task.WhenAll(sending);
            result = SweepSummary.Completed;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // What was not enqueued is still in the index, due: the next run plans it.
            await Task.WhenAll(sending.Select(Quietly));
            result = cancellationToken.IsCancellationRequested ? SweepSummary.Cancelled : SweepSummary.BudgetExhausted;
        }
        catch (Exception)
        {
            // The queue failed: the sends still in flight finish before the gate goes; the run reports the failure, and
            // the next run plans what is still due.
            await Task.WhenAll(sending.Select(Quietly));
            throw;
        }

        var elapsed = time.GetElapsedTime(started);
        Log.RunPlanned(logger, result, (long)elapsed.TotalMilliseconds, planned, items, queue.Name, backlog);
        metrics.SweeperRun(elapsed, result);
        metrics.SweepWorkItems("planned", items);
        return new SweepPlan(null, planned, items, backlog);
    }

    private static Task Quietly(Task task) =>
        task.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    /// <summary>
    /// One work item, as the queue-triggered function hands it over: its rows go through the same triage and refresh
    /// stages as an in-process run, under this instance's share of the provider rate limit. Throws (so the host retries
    /// the message after its visibility timeout, and moves it to the poison queue in the end) when the message is not a
    /// work item, or when sessions failed with an exception; everything else in it has been handled by then, and a
    /// retry finds those sessions done (no longer due).
    /// </summary>
    public async Task ProcessAsync(string message, CancellationToken cancellationToken)
    {
        if (!SweepWorkItem.TryParse(message, out var item, out var reason))
        {
            Log.WorkItemMalformed(logger, reason);
            metrics.SweepWorkItems("malformed");
            throw new InvalidDataException($"The message is not a sweep work item ({reason}); the host retries it and then moves it to the poison queue.");
        }

        var summary = await SweepCoreAsync(item.Rows.ToAsyncEnumerable(), rateLimits.Worker, cancellationToken);
        Log.WorkItemCompleted(logger, LevelOf(summary), summary.Result, (long)summary.Duration.TotalMilliseconds, item.Rows.Count, summary.Due, summary.Refreshed, summary.Skipped, summary.Failed, summary.Reauth, summary.Purged, summary.IndexHealed, summary.Errors, (long)(time.GetUtcNow() - item.PlannedAt).TotalMilliseconds);
        RecordSessions(summary);
        metrics.SweepWorkItems(summary.Errors > 0 ? SweepSummary.FailedResult : summary.Result);
        cancellationToken.ThrowIfCancellationRequested();
        if (summary.Errors > 0)
        {
            throw new AggregateException($"The sweep work item could not handle {summary.Errors} session(s) (the first {summary.Exceptions.Count} attached); every other session was handled.", summary.Exceptions);
        }
    }

    /// <summary>Reports a work item the host gave up on (moved to the poison queue): its rows stay in the index, and the next run plans them again.</summary>
    public Task ReportPoisonAsync(string message, CancellationToken cancellationToken)
    {
        var rows = SweepWorkItem.TryParse(message, out var item, out _) ? item.Rows.Count : 0;
        Log.WorkItemPoisoned(logger, queue.Name, rows, item?.Rows.FirstOrDefault().Key.LogId ?? "-");
        metrics.SweepWorkItems("poison");
        return Task.CompletedTask;
    }

    /// <summary>One in-process run; returns its summary (also logged as one event and exported as metrics) instead of throwing.</summary>
    internal async Task<SweepSummary> SweepAsync(CancellationToken cancellationToken, IReadOnlyList<DueIndexEntry>? scanned = null)
    {
        using var limiter = ProviderRateLimits.Create(options.Value.Sweeper.ProviderRequestsPerSecond, time);
        var rows = scanned is null ? null : scanned.ToAsyncEnumerable();
        return Report(await SweepCoreAsync(rows, limiter, cancellationToken));
    }

    /// <summary>Triage and refresh of <paramref name="rows"/> (null: the due index up to now), under <paramref name="limiter"/>.</summary>
    private async Task<SweepSummary> SweepCoreAsync(IAsyncEnumerable<DueIndexEntry>? rows, PartitionedRateLimiter<string> limiter, CancellationToken cancellationToken)
    {
        var opts = options.Value;
        var started = time.GetTimestamp();
        var now = time.GetUtcNow();

        // The budget stops the run taking new sessions; the ones in hand finish, and the next run picks up the rest.
        using var budget = new CancellationTokenSource(opts.Sweeper.TimeBudget, time);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, budget.Token);
        var run = new SweepRun(RefreshDemand.NoLongerDue(opts), limiter, store, logger);
        string result;
        try
        {
            run.CurrentKeyId = await protector.GetCurrentKeyIdAsync(stop.Token);

            // Two stages: triage reads each indexed session (and does everything that needs no provider call) a little
            // ahead of the refresh stage, whose workers then spend their time on the provider, not on reading rows.
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = opts.Sweeper.Parallelism, CancellationToken = stop.Token };
            var dueSessions = Channel.CreateBounded<DueSession>(new BoundedChannelOptions(opts.Sweeper.Parallelism) { SingleWriter = false, SingleReader = false });
            var triage = TriageAllAsync(run, rows ?? store.QueryDueAsync(now, PageSize, stop.Token), parallel, dueSessions.Writer);
            var refresh = Parallel.ForEachAsync(dueSessions.Reader.ReadAllAsync(stop.Token), parallel, (due, _) => new ValueTask(RefreshOneAsync(run, due, stop.Token)));
            await Task.WhenAll(triage, refresh);

            // Rows the index does not hold (failing ones) or passed without due work are re-encrypted by a table scan.
            await reEncryption.RunIfDueAsync(run, stop.Token);
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

        return run.ToSummary(result, time.GetElapsedTime(started));
    }

    private async Task TriageAllAsync(SweepRun run, IAsyncEnumerable<DueIndexEntry> rows, ParallelOptions parallel, ChannelWriter<DueSession> dueSessions)
    {
        try
        {
            await Parallel.ForEachAsync(rows, parallel, (entry, stop) => new ValueTask(TriageOneAsync(run, entry, dueSessions, stop)));
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
            await ReEncryptIfNeededAsync(run, session, stop);
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

        if (action == RowAction.ReauthRequired && session.Status != SessionStatus.ReauthRequired)
        {
            // The refresh token outlived the lifetime the provider announced: record it (and tell the app) without a call.
            var dead = await coordinator.RecordRefreshTokenExpiredAsync(session, run.Demand);
            if (dead is null)
            {
                run.Skipped();
            }
            else if (dead.DueAt is not { } movedTo || SessionStore.Bucket(movedTo) != entry.Bucket)
            {
                await run.Cleanup.RemoveAsync(entry, stale: false);
            }

            return;
        }

        // Its own token, or one of its scoped tokens in use (RefreshSchedule.ScopedRefreshDueAt), or both.
        var ownDue = action == RowAction.Refresh;
        var scopedDue = action != RowAction.ReauthRequired && RefreshSchedule.ScopedRefreshDueAt(session) <= now;
        if (!(ownDue || scopedDue) || dueAt > now)
        {
            // Not due (or due later within this minute's bucket: never refreshed early), left for the next run.
            run.Skipped();
            await ReEncryptIfNeededAsync(run, session, stop);
            return;
        }

        if (!run.TryBeginRefresh(entry.Key))
        {
            run.Skipped();
            return;
        }

        await dueSessions.WriteAsync(new DueSession(entry, session, ownDue), stop);
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
            var outcome = due.OwnDue ? await coordinator.EnsureCurrentAsync(due.Entry.Key, run.Demand, CancellationToken.None, due.Session) : null;
            if (outcome is not null)
            {
                run.Record(outcome);
            }

            // Not after its own refresh failed: the provider (or the grant) is not answering for the others either.
            if (outcome is null or { Status: RefreshStatus.Refreshed or RefreshStatus.Current }
                && (outcome is null ? due.Session : outcome.Session) is { } current
                && RefreshSchedule.ScopedRefreshDueAt(current) <= time.GetUtcNow())
            {
                outcome = await RefreshScopedAsync(run, due.Entry.Key, current, stop) ?? outcome;
            }

            if (outcome is null)
            {
                return;
            }

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

    /// <summary>
    /// Refreshes the session's scoped tokens that are in use and due, one after the other (they share the session's
    /// refresh token and lease), each through the coordinator with its own demand. Idle ones are left to expire: a front
    /// end coming back gets a fresh one on demand. Returns the last flight's outcome (null: none was due any more).
    /// </summary>
    private async Task<RefreshOutcome?> RefreshScopedAsync(SweepRun run, SessionKey key, SessionEntity session, CancellationToken stop)
    {
        var now = time.GetUtcNow();
        var demand = RefreshDemand.ScopedNoLongerDue(options.Value);
        RefreshOutcome? last = null;
        var rows = await store.QueryScopedAsync(key, CancellationToken.None);
        foreach (var row in rows)
        {
            if (!(RefreshSchedule.ScopedTokenDueAt(session, row, options.Value) <= now) || !TokenScope.TryParse(row.RequestedScope, row.Resource, out var scope, out _) || scope is null)
            {
                continue;
            }

            using var permit = await run.ProviderLimiter.AcquireAsync(session.Provider, 1, stop);
            if (!permit.IsAcquired)
            {
                break;
            }

            last = await coordinator.EnsureCurrentAsync(key, demand, CancellationToken.None, scope: scope);
            run.Record(last);
        }

        if (last is null)
        {
            // None due after all (the session's state moved them, or they went idle): its scoped due time is set right
            // from the rows, so the index stops pointing here for nothing. Losing the race is harmless.
            var updated = session.Clone();
            updated.ScopedDueAt = RefreshSchedule.ScopedDueAt(session, rows, options.Value);
            return await coordinator.SaveAsync(session, updated, leavePreviousIndexRow: true) == UpdateResult.Updated
                ? new RefreshOutcome(RefreshStatus.Current, updated)
                : null;
        }

        return last;
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
        events.Emit(SessionEvent.For(SessionEventKinds.Purged, session, now, cause: reason));
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
    private async Task ReEncryptIfNeededAsync(SweepRun run, SessionEntity session, CancellationToken stop)
    {
        if (await reEncryption.ReEncryptAsync(session, run.CurrentKeyId, stop) == ReEncryption.Rewritten)
        {
            run.ReEncrypted();
        }
    }

    private static LogLevel LevelOf(SweepSummary summary) =>
        summary.Result == SweepSummary.Completed && summary.Failed == 0 && summary.Errors == 0 ? LogLevel.Information : LogLevel.Warning;

    private SweepSummary Report(SweepSummary summary)
    {
        Log.RunCompleted(
            logger,
            LevelOf(summary),
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
        RecordSessions(summary);
        return summary;
    }

    private void RecordSessions(SweepSummary summary)
    {
        metrics.SweeperSessions("refreshed", summary.Refreshed);
        metrics.SweeperSessions("skipped", summary.Skipped);
        metrics.SweeperSessions("failed", summary.Failed);
        metrics.SweeperSessions("marked_failing", summary.MarkedFailing);
        metrics.SweeperSessions("reauth_required", summary.Reauth);
        metrics.SweeperSessions("purged", summary.Purged);
        metrics.SweeperSessions("reencrypted", summary.ReEncrypted);
        metrics.SweeperSessions("index_healed", summary.IndexHealed);
        metrics.SweeperErrors(summary.Errors);
    }

    /// <summary>An index row whose session triage found due for a refresh, with the row as read.</summary>
    /// <param name="OwnDue">Its own token is due (otherwise only scoped tokens are).</param>
    private readonly record struct DueSession(DueIndexEntry Entry, SessionEntity Session, bool OwnDue);
}

/// <summary>What the timer's run did: swept in process (<see cref="InProcess"/>), or enqueued <see cref="Items"/> work items holding <see cref="Planned"/> rows.</summary>
/// <param name="Backlog">Work items already queued when the run began.</param>
internal sealed record SweepPlan(SweepSummary? InProcess, int Planned, int Items, int Backlog);
