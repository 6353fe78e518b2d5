using FunctionsAuth.Callers;
using FunctionsAuth.Configuration;
using FunctionsAuth.Events;
using FunctionsAuth.OAuth;
using FunctionsAuth.Protection;
using FunctionsAuth.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Sessions;

/// <summary>The session lifecycle behind the HTTP contract: register, get a current access token, revoke.</summary>
internal sealed class SessionService(
    SessionStore store,
    SessionCrypto crypto,
    RefreshCoordinator coordinator,
    OAuthClient oauth,
    ISessionEvents events,
    TimeProvider time,
    IOptions<FunctionsAuthOptions> options,
    ILogger<SessionService> logger)
{
    private const int MaxInsertAttempts = 3;

    /// <summary>
    /// Registers a session from tokens just issued (code redemption, <paramref name="issuedNow"/>) or handed over by
    /// the front end (issue time unknown).
    /// </summary>
    /// <param name="owner">The caller registering it: only it may use the session's handle afterwards.</param>
    /// <param name="subject">The app's id for the user, already validated; stored for events.</param>
    public async Task<CreateOutcome> CreateAsync(string provider, TokenSet tokens, bool issuedNow, CallerId owner, CancellationToken cancellationToken, string? subject = null)
    {
        if (tokens.RefreshToken is not { Length: > 0 } refreshToken)
        {
            throw new ArgumentException("A session needs a refresh token.", nameof(tokens));
        }

        var now = time.GetUtcNow();
        for (var attempt = 0; attempt < MaxInsertAttempts; attempt++)
        {
            var handle = SessionHandle.Create();
            SessionHandle.TryGetKey(handle, out var key);
            var session = new SessionEntity
            {
                PartitionKey = key.Value,
                RowKey = key.Value,
                Provider = provider,
                Subject = subject,
                Owner = owner.Value,
                Status = SessionStatus.Active,
                StatusChangedAt = now,
                TokenType = tokens.TokenType,
                Scope = tokens.Scope,
                CreatedAt = now,
                LastUsedAt = now,
                LastRefreshedAt = now,
                RefreshTokenExpiresAt = now + tokens.RefreshExpiresIn,
            };

            if (tokens.AccessToken.Length > 0)
            {
                session.AccessTokenIssuedAt = issuedNow ? now : null;

                // Hand-over without expires_at: treat the token as expired, so the first use refreshes it.
                session.AccessTokenExpiresAt = tokens.ExpiresIn is { } expiresIn ? now + expiresIn : now;
            }

            await crypto.WriteTokensAsync(session, tokens.AccessToken.Length > 0 ? tokens.AccessToken : null, refreshToken, cancellationToken);
            session.DueAt = RefreshSchedule.DueAt(session, options.Value);
            if (session.DueAt is { } due)
            {
                await store.AddToIndexAsync(key, due, cancellationToken);
            }

            if (await store.TryAddAsync(session, cancellationToken))
            {
                Log.SessionCreated(logger, key, provider);
                return new CreateOutcome(handle, key, session);
            }
        }

        // 256 random bits colliding three times means the random source is broken: stop.
        throw new InvalidOperationException("Could not allocate a unique session handle.");
    }

    /// <summary>
    /// A current access token for <paramref name="key"/>, refreshing (single-flight) only when needed. A session of
    /// another caller is answered like an unknown one, after the same single read.
    /// </summary>
    /// <param name="scope">
    /// A narrower scope or a resource (<see cref="TokenScope"/>): a token of its own, cached beside the session's. Null, or
    /// the session's whole granted scope without a resource: the session's own token, on exactly today's path.
    /// </param>
    public async Task<RefreshOutcome> GetAccessTokenAsync(SessionKey key, TimeSpan minTtl, CallerId caller, CancellationToken cancellationToken, TokenScope? scope = null)
    {
        SessionEntity? session;
        ScopedTokenEntity? scoped = null;
        if (scope is null)
        {
            session = await store.GetAsync(key, cancellationToken);
        }
        else
        {
            (session, scoped) = await store.GetWithScopedAsync(key, scope.RowKey(key), cancellationToken);
        }

        session = await OwnedByAsync(key, session, caller);
        if (scope is not null && session is not null)
        {
            options.Value.Providers.TryGetValue(session.Provider, out var provider);
            if (scope.IsSessionsOwn(session.Scope))
            {
                scope = null;
            }
            else if (!scope.IsAllowed(session.Scope, provider))
            {
                Log.ScopeNotAllowed(logger, key, session.Provider);
                return new RefreshOutcome(RefreshStatus.InvalidScope);
            }
        }

        var now = time.GetUtcNow();
        var demand = RefreshDemand.ValidFor(minTtl);
        var view = scope is not null && session is not null ? ScopedTokenEntity.ViewOf(session, scoped) : session;
        var action = RefreshRules.Decide(view, demand, now);
        switch (action)
        {
            case RowAction.Invalid:
                return new RefreshOutcome(RefreshStatus.InvalidSession);
            case RowAction.ReauthRequired:
                return RefreshOutcome.ReauthRequired(session!);
            case RowAction.Serve or RowAction.ServeInBackoff when scope is null:
                // The fast path: one point read, no provider call.
                var current = await coordinator.CurrentAsync(session!, servedStale: action == RowAction.ServeInBackoff);
                if (current.Status == RefreshStatus.Current)
                {
                    await RecordActivityAsync(session!, now);
                }

                return current;
            case RowAction.Serve or RowAction.ServeInBackoff:
                // A scoped token's fast path: the two rows read side by side, no provider call.
                if (await coordinator.CurrentScopedAsync(view!, scoped!, servedStale: action == RowAction.ServeInBackoff) is { } currentScoped)
                {
                    await RecordScopedUseAsync(session!, scoped!, now);
                    return currentScoped;
                }

                // Unreadable (a retired key): the flight sees so too, and fetches it again as if never cached.
                break;
        }

        // The row just read starts the flight (its ETag guards the lease claim): no second read.
        var outcome = await coordinator.EnsureCurrentAsync(key, demand, cancellationToken, lastRead: session, scope, scoped);
        if (outcome is { Status: RefreshStatus.Unavailable or RefreshStatus.RateLimited or RefreshStatus.Busy or RefreshStatus.ProviderError or RefreshStatus.TemporarilyUnavailable, Session: { AccessToken: not null } stale }
            && stale.AccessTokenExpiresAt > time.GetUtcNow())
        {
            // The provider (or our storage, while a rotated token's write is retried) is down but the stored token
            // still works: serve it (refreshed: false) rather than fail.
            Log.ServingStoredToken(logger, key, outcome.Error ?? "");
            return outcome.Scoped is { } staleScoped
                ? await coordinator.CurrentScopedAsync(stale, staleScoped, servedStale: true) ?? outcome
                : await coordinator.CurrentAsync(stale, servedStale: true);
        }

        return outcome;
    }

    /// <summary>
    /// Deletes the session and, as the provider's <see cref="ProviderOptions.SignOutRevocation"/> and the app's
    /// <paramref name="revokeGrant"/> decide (<see cref="SignOutRules"/>), revokes its refresh token at the provider
    /// (RFC 7009, best effort). Idempotent. A session of another caller is left alone, as an unknown one would be.
    /// </summary>
    /// <returns><see cref="SignOutAction.Refuse"/> when nothing was done because revocation was asked for and is not allowed.</returns>
    public async Task<SignOutAction> RevokeAsync(SessionKey key, CallerId caller, CancellationToken cancellationToken, bool? revokeGrant = null)
    {
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var session = await store.GetAsync(key, cancellationToken);
            if (session is null)
            {
                return SignOutAction.Delete;
            }

            // Ownership first: another caller's session answers as an unknown one would, whatever it asked for.
            if (SessionOwnership.Decide(session, caller, options.Value.Callers.UnownedSessions) == Ownership.Foreign)
            {
                Callers.Log.ForeignSession(logger, key, caller.Value);
                return SignOutAction.Delete;
            }

            options.Value.Providers.TryGetValue(session.Provider, out var provider);
            var action = SignOutRules.Decide(SignOutRules.Resolve(provider), revokeGrant);
            if (action == SignOutAction.Refuse)
            {
                return action;
            }

            // Delete first, conditionally: if a refresh rotated the token meanwhile, re-read and revoke the newer one.
            var result = await store.TryDeleteAsync(session, cancellationToken);
            if (result == UpdateResult.Conflict)
            {
                continue;
            }

            if (session.DueAt is { } due)
            {
                await store.RemoveFromIndexAsync(key, due, cancellationToken);
            }

            if (result == UpdateResult.NotFound)
            {
                return SignOutAction.Delete;
            }

            Log.SessionRevoked(logger, key, session.Provider);
            events.Emit(SessionEvent.For(SessionEventKinds.Revoked, session, time.GetUtcNow()));

            if (action == SignOutAction.DeleteAndRevoke && session.RefreshToken is not null)
            {
                string refreshToken;
                try
                {
                    refreshToken = await crypto.ReadRefreshTokenAsync(session, cancellationToken);
                }
                catch (TokenProtectionException)
                {
                    Log.UndecryptableSession(logger, key);
                    return action;
                }

                // The row is gone already: finish the provider's side even if the caller stops waiting.
                await oauth.RevokeAsync(session.Provider, refreshToken, "refresh_token", CancellationToken.None);
            }
            else if (action == SignOutAction.Delete)
            {
                Log.GrantKept(logger, key, session.Provider);
            }

            return action;
        }

        throw new InvalidOperationException("The session kept changing while it was being revoked.");
    }

    /// <summary>
    /// The row if <paramref name="caller"/> may use it, else null (as if it did not exist). A row with no owner (written
    /// before sessions were bound to their caller) is adopted by its first caller when the policy allows it: recorded
    /// with a conditional write, never while a refresh holds the lease (its write must not meet a changed ETag).
    /// </summary>
    private async Task<SessionEntity?> OwnedByAsync(SessionKey key, SessionEntity? session, CallerId caller)
    {
        for (var attempt = 0; session is not null && attempt < MaxInsertAttempts; attempt++)
        {
            switch (SessionOwnership.Decide(session, caller, options.Value.Callers.UnownedSessions))
            {
                case Ownership.Owner:
                    return session;
                case Ownership.Foreign:
                    Callers.Log.ForeignSession(logger, key, caller.Value);
                    return null;
            }

            if (session.IsLeased(time.GetUtcNow()))
            {
                return session;
            }

            var adopted = session.Clone();
            adopted.Owner = caller.Value;
            if (await coordinator.SaveAsync(session, adopted) == UpdateResult.Updated)
            {
                Callers.Log.SessionAdopted(logger, key, caller.Value);
                return adopted;
            }

            // Changed meanwhile (refreshed, or adopted by another caller): decide again on what it is now.
            session = await store.GetAsync(key, CancellationToken.None);
        }

        return null;
    }

    /// <summary>
    /// A scoped token's use, at most once per <c>ActivityResolution</c> (the least recently used is evicted at the cap).
    /// A token coming back from idle is due for a refresh ahead again: the session's due time is moved up for it.
    /// </summary>
    private async Task RecordScopedUseAsync(SessionEntity session, ScopedTokenEntity scoped, DateTimeOffset now)
    {
        if (now - scoped.LastUsedAt < options.Value.ActivityResolution)
        {
            return;
        }

        await store.TryRecordScopedUseAsync(scoped, now, CancellationToken.None);
        var used = scoped.Clone();
        used.LastUsedAt = now;
        if (RefreshSchedule.ScopedTokenDueAt(session, used, options.Value) is { } due && !(session.ScopedDueAt <= due) && !session.IsLeased(now))
        {
            var updated = session.Clone();
            updated.ScopedDueAt = due;

            // Losing this race is harmless: whoever won wrote a newer row (a scoped refresh recomputes it from every row).
            await coordinator.SaveAsync(session, updated);
        }
    }

    /// <summary>
    /// Records use at most once per <c>ActivityResolution</c>: the sweeper refreshes only sessions used within its
    /// activity window, so a session coming back from idle is moved to the front of the due index here.
    /// </summary>
    private async Task RecordActivityAsync(SessionEntity session, DateTimeOffset now)
    {
        if (now - session.LastUsedAt < options.Value.ActivityResolution || session.IsLeased(now))
        {
            return;
        }

        var updated = session.Clone();
        updated.LastUsedAt = now;

        // Losing this race is harmless: whoever won wrote a newer row.
        await coordinator.SaveAsync(session, updated);
    }
}

internal sealed record CreateOutcome(string Handle, SessionKey Key, SessionEntity Session);
