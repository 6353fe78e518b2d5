using Azure;
using Azure.Data.Tables;
using FunctionsAuth.Configuration;
using FunctionsAuth.Diagnostics;
using FunctionsAuth.Events;
using FunctionsAuth.OAuth;
using FunctionsAuth.Protection;
using FunctionsAuth.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Sessions;

/// <summary>
/// Makes a session's access token current with at most one provider refresh at a time per session, across every
/// instance: an in-process single-flight (callers for the same session share one task) plus a lease on the row,
/// claimed with an ETag-conditional update. The lease outlives the provider call; only its owner (holding the
/// ETag it got) releases it; an expired lease is taken over only through a fresh read of the row.
/// Used by the HTTP path and the sweeper alike, so the two never spend one refresh token twice.
/// </summary>
internal sealed class RefreshCoordinator(
    SessionStore store,
    SessionCrypto crypto,
    OAuthClient oauth,
    ISessionEvents events,
    FunctionsAuthMetrics metrics,
    TimeProvider time,
    IOptions<FunctionsAuthOptions> options,
    ILogger<RefreshCoordinator> logger)
{
    // Every wait, time-out and stopwatch here runs on the injected TimeProvider, like "now": tests drive the lease
    // polls and the rotated write's back-off with their clock instead of waiting for them.
    private static readonly TimeSpan MinPoll = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan MaxPoll = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan BusyRetryAfter = TimeSpan.FromSeconds(1);

    /// <summary>How long callers wait for the rotated token's write before they are told to retry; the write goes on.</summary>
    internal static readonly TimeSpan RotatedWriteCallerWait = TimeSpan.FromSeconds(3);

    private static readonly TimeSpan FirstRotatedWriteRetryDelay = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan MaxRotatedWriteRetryDelay = TimeSpan.FromSeconds(4);

    /// <summary>Retry-After when FunctionsAuth's own storage failed a refresh.</summary>
    internal static readonly TimeSpan StorageRetryAfter = TimeSpan.FromSeconds(5);

    /// <summary>Lifetime assumed when a provider omits expires_in (RFC 6749 leaves it open; one hour is the common default).</summary>
    private static readonly TimeSpan DefaultAccessTokenLifetime = TimeSpan.FromHours(1);

    /// <summary>Prefix of a session's <c>LastError</c> after an attempt whose outcome is unknown (the token may be spent).</summary>
    public const string OutcomeUnknownPrefix = "outcome_unknown:";

    private readonly SingleFlight<string, RefreshOutcome> flights = new(StringComparer.Ordinal);

    /// <summary>
    /// Returns once the session's stored token meets <paramref name="demand"/> or a refresh has been tried.
    /// Cancelling stops the wait, never the flight: a refresh token sent to the provider is always followed by
    /// persisting its successor.
    /// </summary>
    /// <param name="lastRead">
    /// The row as the caller has just read it, saving the flight's first read when this call starts the flight. It is
    /// only ever used through its ETag: if the row has changed since, the lease claim fails and the flight re-reads.
    /// </param>
    /// <param name="scope">
    /// A scoped token (<see cref="TokenScope"/>) rather than the session's own: flights join per session and token, and the
    /// session's one lease serializes the refreshes of all its tokens, which share its one refresh token.
    /// </param>
    /// <param name="lastScoped">The scoped token's row as read with <paramref name="lastRead"/> (null: not cached yet).</param>
    public async Task<RefreshOutcome> EnsureCurrentAsync(SessionKey key, RefreshDemand demand, CancellationToken cancellationToken, SessionEntity? lastRead = null, TokenScope? scope = null, ScopedTokenEntity? lastScoped = null)
    {
        // At most two rounds: a joiner whose demand the shared flight did not meet (it needed a longer min_ttl
        // than the caller that started it, or the sweeper's "no longer due") starts one flight of its own.
        for (var round = 0; ; round++)
        {
            var flight = JoinFlight(key, demand, round == 0 ? new LastRead(lastRead, lastScoped) : null, scope);
            var outcome = await flight.WaitAsync(cancellationToken);
            if (round > 0 || outcome.Status != RefreshStatus.Current || outcome.Session is null || demand.IsSatisfiedBy(outcome.Session, time.GetUtcNow()))
            {
                return outcome;
            }
        }
    }

    private Task<RefreshOutcome> JoinFlight(SessionKey key, RefreshDemand demand, LastRead? lastRead, TokenScope? scope) =>
        flights.RunAsync(
            scope is null ? key.Value : scope.RowKey(key),
            (self: this, key, demand, lastRead, scope),
            static (_, state) => state.self.FlyAsync(state.key, state.demand, state.lastRead, state.scope));

    private async Task<RefreshOutcome> FlyAsync(SessionKey key, RefreshDemand demand, LastRead? lastRead, TokenScope? scope)
    {
        // Off the starting caller's thread, so joiners never wait behind the synchronous start of its storage read.
        await Task.Yield();
        var outcome = await RunAsync(key, demand, lastRead, scope);
        return scope is null || outcome.Scoped is not null || outcome.Session is null ? outcome : outcome with { Session = ScopedTokenEntity.ViewOf(outcome.Session, null) };
    }

    /// <summary>The rows a caller has just read, given to the flight it starts (<see cref="EnsureCurrentAsync"/>).</summary>
    /// <param name="ScopedUnreadable">The scoped row does not decrypt (a retired key): it counts as no token, and is rewritten.</param>
    private sealed record LastRead(SessionEntity? Session, ScopedTokenEntity? Scoped, bool ScopedUnreadable = false);

    private async Task<LastRead> ReadAsync(SessionKey key, TokenScope? scope)
    {
        if (scope is null)
        {
            return new LastRead(await store.GetAsync(key, CancellationToken.None), null);
        }

        var (session, scoped) = await store.GetWithScopedAsync(key, scope.RowKey(key), CancellationToken.None);
        return new LastRead(session, scoped);
    }

    private async Task<RefreshOutcome> RunAsync(SessionKey key, RefreshDemand demand, LastRead? lastRead, TokenScope? scope)
    {
        var opts = options.Value;
        var maxWait = opts.LeaseDuration + opts.ProviderTimeout;
        var waitStarted = time.GetTimestamp();
        var leaseWaited = false;
        var poll = MinPoll;
        while (true)
        {
            var (session, scoped, unreadable) = lastRead?.Session is not null ? lastRead : await ReadAsync(key, scope);
            lastRead = null;
            var now = time.GetUtcNow();

            // A scoped token is decided on the session's state with that token's fields: one set of rules for both.
            var view = scope is not null && session is not null ? ScopedTokenEntity.ViewOf(session, unreadable ? null : scoped) : session;
            var action = RefreshRules.Decide(view, demand, now);
            if (leaseWaited && action != RowAction.WaitForLease)
            {
                metrics.LeaseWait(time.GetElapsedTime(waitStarted), "released");
                leaseWaited = false;
            }

            switch (action)
            {
                case RowAction.Invalid:
                    return new RefreshOutcome(RefreshStatus.InvalidSession);
                case RowAction.ReauthRequired:
                    return RefreshOutcome.ReauthRequired(session!);
                case RowAction.Serve or RowAction.ServeInBackoff when scope is null:
                    return await CurrentAsync(view!, servedStale: action == RowAction.ServeInBackoff);
                case RowAction.Serve or RowAction.ServeInBackoff:
                    if (await CurrentScopedAsync(view!, scoped!, servedStale: action == RowAction.ServeInBackoff) is { } current)
                    {
                        return current;
                    }

                    // Under a key no longer held: fetched again, as if it had never been cached (the row is rewritten).
                    lastRead = new LastRead(session, scoped, ScopedUnreadable: true);
                    continue;
                case RowAction.WaitForLease:
                    // Someone else (this or another instance) is refreshing: wait for its result, then re-read.
                    leaseWaited = true;
                    if (time.GetElapsedTime(waitStarted) > maxWait)
                    {
                        metrics.LeaseWait(time.GetElapsedTime(waitStarted), "timed_out");
                        return new RefreshOutcome(RefreshStatus.Busy, view, RetryAfter: BusyRetryAfter, Error: "refresh_in_progress", Scoped: scoped);
                    }

                    await Task.Delay(poll, time);
                    poll = poll * 2 > MaxPoll ? MaxPoll : poll * 2;
                    continue;
            }

            var claimed = session!.Clone();
            claimed.LeaseId = Guid.NewGuid().ToString("N");
            claimed.LeaseExpiresAt = now + opts.LeaseDuration;
            // Only the two lease fields travel (a merge conditional on the ETag just read): the row is unchanged otherwise.
            switch (await store.TryClaimLeaseAsync(claimed, CancellationToken.None))
            {
                case UpdateResult.Conflict:
                    continue;
                case UpdateResult.NotFound:
                    return new RefreshOutcome(RefreshStatus.InvalidSession);
            }

            // The claim matched the ETag of the row just read, so its refresh token is the newest there is.
            Log.LeaseTaken(logger, key);
            if (scope is null)
            {
                return await RefreshUnderLeaseAsync(key, claimed, demand, null);
            }

            // The scoped row was read beside the session, not with it: under the lease (nobody else writes scoped rows
            // now), a row not seen is looked for again, with its siblings (for the cap, and the session's scoped due
            // time). Before anything is sent, so a failing read costs nothing.
            var target = new ScopedTarget(scope, scoped, []);
            if (scoped is null || claimed.ScopedTokens > 1)
            {
                try
                {
                    target = ScopedTarget.For(scope, key, await store.QueryScopedAsync(key, CancellationToken.None), scoped);
                }
                catch (StorageUnavailableException)
                {
                    await TryReleaseUnchangedAsync(claimed, demand, null);
                    throw;
                }

                if (scoped is null && target.Existing is not null)
                {
                    // It was written between the two reads (another flight's transaction landed after the scoped row was
                    // read and before the session was): nothing is sent; the lease goes and both rows are read again.
                    await ReleaseAsync(claimed, demand, null, static _ => { });
                    continue;
                }
            }

            var outcome = await RefreshUnderLeaseAsync(key, claimed, demand, target);
            return outcome.Scoped is not null || outcome.Session is null ? outcome : outcome with { Session = ScopedTokenEntity.ViewOf(outcome.Session, target.Existing), Scoped = target.Existing };
        }
    }

    /// <summary>
    /// The scoped token a flight refreshes: what it asks for, its row if cached (<paramref name="Existing"/>), and the
    /// partition's other scoped rows (<paramref name="Siblings"/>: their due times make the session's, and the least
    /// recently used make room once the session holds <see cref="ScopedTokenEntity.MaxPerSession"/>).
    /// </summary>
    private sealed record ScopedTarget(TokenScope Scope, ScopedTokenEntity? Existing, IReadOnlyList<ScopedTokenEntity> Siblings)
    {
        /// <param name="read">The row as read in full beside the session, if it was: kept over the query's columns.</param>
        public static ScopedTarget For(TokenScope scope, SessionKey key, IReadOnlyList<ScopedTokenEntity> rows, ScopedTokenEntity? read)
        {
            var rowKey = scope.RowKey(key);
            return new ScopedTarget(scope, read ?? rows.FirstOrDefault(r => r.RowKey == rowKey), rows.Where(r => r.RowKey != rowKey).ToList());
        }

        /// <summary>The rows evicted to make room for a new one (least recently used first).</summary>
        public IReadOnlyList<ScopedTokenEntity> Evicted =>
            Existing is null && Siblings.Count >= ScopedTokenEntity.MaxPerSession
                ? Siblings.OrderBy(r => r.LastUsedAt).Take(Siblings.Count - ScopedTokenEntity.MaxPerSession + 1).ToList()
                : [];

        /// <summary>The siblings that stay.</summary>
        public IEnumerable<ScopedTokenEntity> Kept => Siblings.Except(Evicted);
    }

    /// <summary>
    /// A scoped token as a <see cref="RefreshStatus.Current"/> outcome (<paramref name="view"/>: the session as seen for it,
    /// <see cref="ScopedTokenEntity.ViewOf"/>). Null when it does not decrypt (under a retired key, say): it is then fetched
    /// again, not an invalid session, since the session's own row is fine.
    /// </summary>
    internal async Task<RefreshOutcome?> CurrentScopedAsync(SessionEntity view, ScopedTokenEntity scoped, bool servedStale = false)
    {
        try
        {
            return new RefreshOutcome(RefreshStatus.Current, view, await crypto.ReadAccessTokenAsync(scoped, view.Provider, CancellationToken.None), ServedStale: servedStale, Scoped: scoped);
        }
        catch (TokenProtectionException)
        {
            Log.UndecryptableScopedToken(logger, new SessionKey(view.PartitionKey));
            return null;
        }
    }

    /// <summary>The stored access token as a <see cref="RefreshStatus.Current"/> outcome; a row that does not decrypt fails closed.</summary>
    /// <param name="servedStale">The token does not meet the demand and is served because the provider is failing.</param>
    internal async Task<RefreshOutcome> CurrentAsync(SessionEntity session, bool servedStale = false)
    {
        try
        {
            return new RefreshOutcome(RefreshStatus.Current, session, await crypto.ReadAccessTokenAsync(session, CancellationToken.None), ServedStale: servedStale);
        }
        catch (TokenProtectionException)
        {
            Log.UndecryptableSession(logger, new SessionKey(session.PartitionKey));
            return new RefreshOutcome(RefreshStatus.InvalidSession);
        }
    }

    private async Task<RefreshOutcome> RefreshUnderLeaseAsync(SessionKey key, SessionEntity leased, RefreshDemand demand, ScopedTarget? target)
    {
        string refreshToken;
        try
        {
            refreshToken = await crypto.ReadRefreshTokenAsync(leased, CancellationToken.None);
        }
        catch (TokenProtectionException)
        {
            // Fail closed: a row whose ciphertext does not decrypt here is treated as no session at all.
            Log.UndecryptableSession(logger, key);
            await ReleaseAsync(leased, demand, null, static _ => { });
            return new RefreshOutcome(RefreshStatus.InvalidSession);
        }

        // Not cancellable by callers: once the refresh token is sent, its successor must be stored.
        // A scoped refresh leaves the session's own token as it is: its due time is no better guess than now.
        var preindexing = target is null ? PreindexAsync(key, leased, demand) : Task.FromResult<DueIndexEntry?>(null);
        TokenResult result;
        try
        {
            result = await oauth.RefreshAsync(leased.Provider, refreshToken, CancellationToken.None, target?.Scope.Scope, target?.Scope.Resource);
        }
        catch (DependencyUnavailableException ex)
        {
            // The client credential could not be read (Key Vault down): nothing was sent, so the lease can go at once.
            Log.RefreshBlockedByDependency(logger, key, ex.Dependency, ex.Failure);
            await TryReleaseUnchangedAsync(leased, demand, await preindexing);
            return TemporarilyUnavailable(leased);
        }

        var preindexed = await preindexing;
        var now = time.GetUtcNow();
        if (result.Tokens is { } tokens)
        {
            return target is null
                ? await CompleteAsync(key, leased, tokens, refreshToken, demand, preindexed, now)
                : await CompleteScopedAsync(key, leased, tokens, refreshToken, demand, target, now);
        }

        switch (result.Failure)
        {
            case TokenFailureKind.InvalidScope when target is not null:
                // The provider will not grant this scope or resource. An error answer rotated nothing, and says nothing
                // against the refresh token or the session: the lease goes, the session stays as it was. A token cached
                // for it earlier goes too (the provider no longer grants it), so no sweep tries it again.
                Log.ScopeRefused(logger, key, leased.Provider, result.Error ?? "invalid_scope");
                var unchanged = target.Existing is { } refused
                    ? await ReleaseAsync(leased, demand, preindexed, s =>
                        {
                            s.ScopedTokens = target.Siblings.Count;
                            s.ScopedDueAt = RefreshSchedule.ScopedDueAt(s, target.Siblings, options.Value);
                        }, [new TableTransactionAction(TableTransactionActionType.Delete, refused, ETag.All)])
                    : await ReleaseAsync(leased, demand, preindexed, static _ => { });
                return new RefreshOutcome(RefreshStatus.InvalidScope, unchanged, Error: result.Error);

            case TokenFailureKind.InvalidGrant:
                // invalid_grant, or an "the user must interact" code (interaction_required, consent_required,
                // login_required): either way only a new sign-in helps. The provider's code is kept as the reason.
                Log.ReauthRequired(logger, key, leased.Provider, result.Error ?? "invalid_grant");
                var dead = await ReleaseAsync(leased, demand, preindexed, s =>
                {
                    s.Status = SessionStatus.ReauthRequired;
                    s.StatusChangedAt = now;
                    s.RefreshToken = null;
                    s.AccessToken = null;
                    s.LastError = result.Error;
                });
                return new RefreshOutcome(RefreshStatus.ReauthRequired, dead, Error: result.Error);

            case TokenFailureKind.InvalidClient or TokenFailureKind.Rejected or TokenFailureKind.InvalidScope:
                var rejected = await ReleaseAsync(leased, demand, preindexed, s => RecordFailure(s, result.Error, now));
                return new RefreshOutcome(RefreshStatus.ProviderError, rejected, Error: result.Error);

            case TokenFailureKind.OutcomeUnknown:
                // The request was sent and its answer lost (time-out, dropped connection, unreadable 200): a provider
                // that rotates may have spent the stored refresh token, and its successor is lost with the answer.
                // Nothing better is known, so the row keeps the token it had and the next attempt sends it again:
                // it works where the provider did not process the request or does not rotate, and answers
                // invalid_grant (reauth_required) where the grant was rotated.
                Log.RefreshOutcomeUnknown(logger, key, leased.Provider, result.Error ?? "");
                metrics.RefreshOutcomeUnknown(leased.Provider, result.Error ?? "unknown");
                var unknown = await ReleaseAsync(leased, demand, preindexed, s => RecordFailure(s, OutcomeUnknownPrefix + result.Error, now));
                return new RefreshOutcome(RefreshStatus.Unavailable, unknown, RetryAfter: result.RetryAfter, Error: result.Error);

            default:
                var failed = await ReleaseAsync(leased, demand, preindexed, s => RecordFailure(s, result.Error, now));
                var status = result.Error == TokenErrors.RateLimited ? RefreshStatus.RateLimited : RefreshStatus.Unavailable;
                return new RefreshOutcome(status, failed, RetryAfter: result.RetryAfter, Error: result.Error);
        }
    }

    /// <summary>
    /// While the provider answers, writes the index row a successful refresh will most likely need (a token living as
    /// long as the last one): the index write that must precede the row's move is then done by the time the answer
    /// arrives, one storage round trip off every refresh. A wrong guess costs a conditional delete of that row.
    /// </summary>
    private Task<DueIndexEntry?> PreindexAsync(SessionKey key, SessionEntity leased, RefreshDemand demand)
    {
        if (leased.FailureCount > 0)
        {
            // It failed last time: its next due time is more likely a back-off than a guess.
            return Task.FromResult<DueIndexEntry?>(null);
        }

        var now = time.GetUtcNow();
        var lifetime = leased.AccessTokenExpiresAt - leased.AccessTokenIssuedAt is { } last && last > TimeSpan.Zero ? last : DefaultAccessTokenLifetime;
        var expected = leased.Clone();
        expected.AccessTokenIssuedAt = now;
        expected.AccessTokenExpiresAt = now + lifetime;
        expected.LastRefreshedAt = now;
        if (demand.RecordActivity)
        {
            expected.LastUsedAt = now;
        }

        var dueAt = RefreshSchedule.DueAt(expected, options.Value);
        return leased.DueAt is { } current && SessionStore.Bucket(current) == SessionStore.Bucket(dueAt)
            ? Task.FromResult<DueIndexEntry?>(null)
            : store.TryPreindexAsync(key, dueAt, CancellationToken.None);
    }

    private async Task<RefreshOutcome> CompleteAsync(SessionKey key, SessionEntity leased, TokenSet tokens, string oldRefreshToken, RefreshDemand demand, DueIndexEntry? preindexed, DateTimeOffset now)
    {
        var updated = leased.Clone();

        // Before the tokens are encrypted: their ciphertexts are bound to the generation they are written in.
        updated.Generation = leased.Generation + 1;

        // RFC 6749 §6: no new refresh token in the answer means the old one stays valid.
        await crypto.WriteTokensAsync(updated, tokens.AccessToken, tokens.RefreshToken ?? oldRefreshToken, CancellationToken.None);
        updated.TokenType = tokens.TokenType;
        updated.Scope = tokens.Scope ?? leased.Scope;
        updated.AccessTokenIssuedAt = now;

        updated.AccessTokenExpiresAt = now + (tokens.ExpiresIn ?? DefaultAccessTokenLifetime);
        MarkRefreshed(leased, updated, tokens, now);
        if (demand.RecordActivity)
        {
            updated.LastUsedAt = now;
        }

        // The previous index row is not removed here, whoever refreshes: it is off the critical path, and left for the
        // sweeper (which removes those it read in batches, and any other it finds stale: it reads the row, sees the
        // session is not due in that bucket, and deletes the index row conditionally on the ETag it read). A stale
        // index row costs a run one read; the new index row is written before the session row (or was preindexed),
        // so a crash at any point leaves at most an extra index row, never a due session missing from the index.
        return await PersistAsync(key, leased, updated, tokens, oldRefreshToken, demand, preindexed, null);
    }

    /// <summary>
    /// A scoped token the provider just issued: the session row (its refresh token rotated or kept, re-encrypted under the
    /// next generation with its own access token, the lease released) and the scoped token's row go in one entity group
    /// transaction, written like any rotated token (<see cref="PersistRotatedAsync"/>): both land or neither does, so the
    /// new refresh token is never stored without the token it came with, nor lost for it.
    /// </summary>
    private async Task<RefreshOutcome> CompleteScopedAsync(SessionKey key, SessionEntity leased, TokenSet tokens, string oldRefreshToken, RefreshDemand demand, ScopedTarget target, DateTimeOffset now)
    {
        var updated = leased.Clone();
        updated.Generation = leased.Generation + 1;
        string? ownAccessToken;
        try
        {
            ownAccessToken = await crypto.ReadAccessTokenAsync(leased, CancellationToken.None);
        }
        catch (TokenProtectionException)
        {
            // Its own token is unreadable: dropped, so the session's next plain refresh fetches one.
            Log.UndecryptableSession(logger, key);
            ownAccessToken = null;
            updated.AccessTokenExpiresAt = null;
        }

        await crypto.WriteTokensAsync(updated, ownAccessToken, tokens.RefreshToken ?? oldRefreshToken, CancellationToken.None);
        MarkRefreshed(leased, updated, tokens, now);

        var row = target.Existing?.Clone() ?? new ScopedTokenEntity
        {
            PartitionKey = key.Value,
            RowKey = target.Scope.RowKey(key),
            RequestedScope = target.Scope.Scope,
            Resource = target.Scope.Resource,
            LastUsedAt = now,
        };
        row.Generation++;
        await crypto.WriteAccessTokenAsync(row, leased.Provider, tokens.AccessToken, CancellationToken.None);
        row.TokenType = tokens.TokenType;
        row.Scope = tokens.Scope ?? target.Scope.Scope ?? leased.Scope;
        row.AccessTokenIssuedAt = now;
        row.AccessTokenExpiresAt = now + (tokens.ExpiresIn ?? DefaultAccessTokenLifetime);
        if (demand.RecordActivity)
        {
            row.LastUsedAt = now;
        }

        // The session row's ETag (the lease's) guards the whole transaction: nobody else writes these rows meanwhile.
        var evicted = target.Evicted;
        List<TableTransactionAction> alongside = [new(TableTransactionActionType.UpsertReplace, row), .. evicted.Select(r => new TableTransactionAction(TableTransactionActionType.Delete, r, ETag.All))];
        if (target.Existing is null)
        {
            updated.ScopedTokens = target.Siblings.Count - evicted.Count + 1;
        }

        // The sweeper refreshes in-use scoped tokens ahead of expiry: the session's row is indexed by the earliest.
        updated.ScopedDueAt = RefreshSchedule.ScopedDueAt(updated, target.Kept.Append(row), options.Value);

        return await PersistAsync(key, leased, updated, tokens, oldRefreshToken, demand, null, new ScopedWrite(row, alongside));
    }

    /// <summary>The scoped token row a rotated write carries, and the transaction's actions beside the session row.</summary>
    private sealed record ScopedWrite(ScopedTokenEntity Row, IReadOnlyList<TableTransactionAction> Actions);

    /// <summary>The bookkeeping of a refresh the provider answered with tokens: the refresh token works, the lease goes.</summary>
    private static void MarkRefreshed(SessionEntity leased, SessionEntity updated, TokenSet tokens, DateTimeOffset now)
    {
        // A rotated refresh token without refresh_expires_in lives as long as the provider likes (unknown); the old one,
        // kept, keeps its own death time unless the provider has just told a new one.
        updated.RefreshTokenExpiresAt = tokens.RefreshExpiresIn is { } refreshLifetime ? now + refreshLifetime
            : tokens.RefreshToken is null ? leased.RefreshTokenExpiresAt : null;
        updated.Status = SessionStatus.Active;
        updated.LastRefreshedAt = now;
        updated.LeaseId = null;
        updated.LeaseExpiresAt = null;
        updated.FailureCount = 0;
        updated.FirstFailureAt = null;
        updated.NextAttemptAt = null;
        updated.LastError = null;
        if (leased.Status != SessionStatus.Active)
        {
            updated.StatusChangedAt = now;
        }
    }

    private async Task<RefreshOutcome> PersistAsync(SessionKey key, SessionEntity leased, SessionEntity updated, TokenSet tokens, string oldRefreshToken, RefreshDemand demand, DueIndexEntry? preindexed, ScopedWrite? scoped)
    {
        // The write goes on until it lands or the lease runs out, whoever still waits for it; the callers wait a
        // moment only, then hear "try again shortly" while the lease keeps every other refresh of this session away.
        var persisting = PersistRotatedAsync(key, leased, updated, tokens, oldRefreshToken, demand, preindexed, scoped);
        try
        {
            return await persisting.WaitAsync(RotatedWriteCallerWait, time);
        }
        catch (TimeoutException)
        {
            Log.RotatedTokenWritePending(logger, key);
            return TemporarilyUnavailable(leased);
        }
    }

    /// <summary>
    /// The write that must not be lost: the provider has already rotated the refresh token. A storage outage is waited
    /// out (the new token kept in memory, the write retried with the lease's ETag) for as long as the lease keeps other
    /// refreshes away; only an outage longer than the lease loses it, and that is logged and counted.
    /// Never throws: nobody may be left to observe it.
    /// </summary>
    private async Task<RefreshOutcome> PersistRotatedAsync(SessionKey key, SessionEntity leased, SessionEntity updated, TokenSet tokens, string oldRefreshToken, RefreshDemand demand, DueIndexEntry? preindexed, ScopedWrite? scoped)
    {
        var delay = FirstRotatedWriteRetryDelay;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var outcome = await SaveRotatedOnceAsync(key, leased, updated, tokens, oldRefreshToken, demand, preindexed, scoped);
                if (attempt > 1)
                {
                    metrics.RotatedTokenWrite("stored");
                }

                return outcome;
            }
            catch (StorageUnavailableException ex) when (time.GetUtcNow() + delay < leased.LeaseExpiresAt)
            {
                Log.RotatedTokenWriteRetried(logger, key, attempt, ex.Failure);
                metrics.RotatedTokenWrite("retried");
                await Task.Delay(Jitter(delay), time);
                delay = delay * 2 > MaxRotatedWriteRetryDelay ? MaxRotatedWriteRetryDelay : delay * 2;
            }
            catch (Exception ex)
            {
                // The lease is running out (or something unforeseen broke): the next refresh of this session will
                // send the spent token, and a provider that detects reuse will end the grant.
                Log.RotatedTokenLost(logger, key, attempt, ex.GetType().Name);
                metrics.RotatedTokenWrite("lost");
                return TemporarilyUnavailable(leased);
            }
        }
    }

    private async Task<RefreshOutcome> SaveRotatedOnceAsync(SessionKey key, SessionEntity leased, SessionEntity updated, TokenSet tokens, string oldRefreshToken, RefreshDemand demand, DueIndexEntry? preindexed, ScopedWrite? scoped)
    {
        // On success SaveAsync leaves the due time and the new ETag on `updated`; a failed attempt changes neither.
        var write = await SaveAsync(leased, updated, leavePreviousIndexRow: true, preindexed, scoped?.Actions);
        var stored = updated;
        if (write == UpdateResult.Conflict)
        {
            // The SDK may have retried a write that had landed (or an earlier attempt of ours did, its answer lost):
            // the row then holds exactly our ciphertext (and, a transaction being all or nothing, the scoped row ours).
            var current = await store.GetAsync(key, CancellationToken.None);
            if (current?.RefreshToken is { } ciphertext && ciphertext.AsSpan().SequenceEqual(updated.RefreshToken))
            {
                stored = current;
                Announce(leased, stored, demand);
            }
            else
            {
                Log.LeaseLost(logger, key);
            }
        }
        else if (write == UpdateResult.NotFound)
        {
            // Revoked while we refreshed: do not leave the new grant alive at the provider.
            await oauth.RevokeAsync(leased.Provider, tokens.RefreshToken ?? oldRefreshToken, "refresh_token", CancellationToken.None);
            return new RefreshOutcome(RefreshStatus.InvalidSession);
        }

        if (write == UpdateResult.Updated)
        {
            Announce(leased, stored, demand);
        }

        Log.Refreshed(logger, key, leased.Provider, tokens.RefreshToken is not null);
        return scoped is null
            ? new RefreshOutcome(RefreshStatus.Refreshed, stored, tokens.AccessToken, IdToken: tokens.IdToken)
            : new RefreshOutcome(RefreshStatus.Refreshed, ScopedTokenEntity.ViewOf(stored, scoped.Row), tokens.AccessToken, Scoped: scoped.Row);
    }

    /// <summary>FunctionsAuth's own storage or Key Vault failed the refresh: the caller may retry shortly.</summary>
    private static RefreshOutcome TemporarilyUnavailable(SessionEntity leased) =>
        new(RefreshStatus.TemporarilyUnavailable, leased, RetryAfter: StorageRetryAfter, Error: "temporarily_unavailable");

    private static TimeSpan Jitter(TimeSpan delay) => delay * (0.75 + (Random.Shared.NextDouble() / 2));

    private async Task TryReleaseUnchangedAsync(SessionEntity leased, RefreshDemand demand, DueIndexEntry? preindexed)
    {
        try
        {
            await ReleaseAsync(leased, demand, preindexed, static _ => { });
        }
        catch (StorageUnavailableException)
        {
            // The lease expires by itself; the refresh token was not sent, so nothing is at stake.
        }
    }

    /// <summary>Applies <paramref name="change"/>, drops the lease and writes with the lease's ETag.</summary>
    /// <param name="alongside">Writes to scoped token rows that go in the same transaction.</param>
    private async Task<SessionEntity> ReleaseAsync(SessionEntity leased, RefreshDemand demand, DueIndexEntry? preindexed, Action<SessionEntity> change, IReadOnlyList<TableTransactionAction>? alongside = null)
    {
        var updated = leased.Clone();
        change(updated);
        updated.LeaseId = null;
        updated.LeaseExpiresAt = null;
        if (await SaveAsync(leased, updated, demand.LeavesPreviousIndexRow, preindexed, alongside) != UpdateResult.Updated)
        {
            Log.LeaseReleaseFailed(logger, new SessionKey(leased.PartitionKey));
        }
        else
        {
            Announce(leased, updated, demand);
        }

        return updated;
    }

    /// <summary>
    /// Records that the refresh token died when the provider said it would (<c>refresh_expires_in</c>): the row becomes
    /// <c>reauth_required</c> as of that moment (one event), its tokens are dropped, and it waits for its purge.
    /// Conditional on the ETag <paramref name="session"/> was read with; null when the row changed meanwhile (the next
    /// look decides again).
    /// </summary>
    internal async Task<SessionEntity?> RecordRefreshTokenExpiredAsync(SessionEntity session, RefreshDemand demand)
    {
        var dead = session.Clone();
        dead.Status = SessionStatus.ReauthRequired;
        dead.StatusChangedAt = session.RefreshTokenExpiresAt;
        dead.RefreshToken = null;
        dead.AccessToken = null;
        dead.LastError = RefreshRules.RefreshTokenExpired;
        if (await SaveAsync(session, dead, demand.LeavesPreviousIndexRow) != UpdateResult.Updated)
        {
            return null;
        }

        Log.ReauthRequired(logger, new SessionKey(session.PartitionKey), session.Provider, RefreshRules.RefreshTokenExpired);
        Announce(session, dead, demand);
        return dead;
    }

    /// <summary>
    /// Emits the event for the status change a write just made (only ever called once that write has landed, so one
    /// transition gives one event): reauth_required, failing, or recovered (failing → active).
    /// </summary>
    private void Announce(SessionEntity before, SessionEntity after, RefreshDemand demand)
    {
        var kind = (before.Status, after.Status) switch
        {
            (not SessionStatus.ReauthRequired, SessionStatus.ReauthRequired) => SessionEventKinds.ReauthRequired,
            (not SessionStatus.Failing, SessionStatus.Failing) => SessionEventKinds.Failing,
            (SessionStatus.Failing, SessionStatus.Active) => SessionEventKinds.Recovered,
            _ => null,
        };
        if (kind is not null && demand.Announces)
        {
            events.Emit(SessionEvent.For(kind, after, after.StatusChangedAt ?? time.GetUtcNow(), kind == SessionEventKinds.Recovered ? null : after.LastError));
        }
    }

    private void RecordFailure(SessionEntity session, string? error, DateTimeOffset now)
    {
        session.FailureCount++;
        session.FirstFailureAt ??= now;
        session.LastError = error;
        session.NextAttemptAt = now + RefreshSchedule.Backoff(session.FailureCount, options.Value.Sweeper);
        if (now - session.FirstFailureAt > options.Value.Sweeper.MaxFailureDuration)
        {
            session.Status = SessionStatus.Failing;
            session.StatusChangedAt = now;
            Log.SessionFailing(logger, new SessionKey(session.PartitionKey), session.Provider, session.FailureCount, error ?? "");
        }
    }

    /// <summary>Writes <paramref name="updated"/> (conditional on the ETag <paramref name="previous"/> was read with) and moves its due-index row.</summary>
    /// <param name="leavePreviousIndexRow">The caller deletes the previous index row itself (the sweeper, in batches).</param>
    /// <param name="preindexed">The index row written while the provider answered, if any.</param>
    /// <param name="alongside">Scoped token rows written in the same transaction.</param>
    internal Task<UpdateResult> SaveAsync(SessionEntity previous, SessionEntity updated, bool leavePreviousIndexRow = false, DueIndexEntry? preindexed = null, IReadOnlyList<TableTransactionAction>? alongside = null)
    {
        updated.DueAt = RefreshSchedule.DueAt(updated, options.Value);
        return store.TryUpdateAndReindexAsync(previous.DueAt, updated, CancellationToken.None, removePreviousIndexRow: !leavePreviousIndexRow, preindexed, alongside);
    }
}
