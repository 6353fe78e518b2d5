using FunctionsAuth.Configuration;
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
    TimeProvider time,
    IOptions<FunctionsAuthOptions> options,
    ILogger<SessionService> logger)
{
    private const int MaxInsertAttempts = 3;

    /// <summary>
    /// Registers a session from tokens just issued (code redemption, <paramref name="issuedNow"/>) or handed over by
    /// the front end (issue time unknown).
    /// </summary>
    public async Task<CreateOutcome> CreateAsync(string provider, TokenSet tokens, bool issuedNow, CancellationToken cancellationToken)
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

    /// <summary>A current access token for <paramref name="key"/>, refreshing (single-flight) only when needed.</summary>
    public async Task<RefreshOutcome> GetAccessTokenAsync(SessionKey key, TimeSpan minTtl, CancellationToken cancellationToken)
    {
        var session = await store.GetAsync(key, cancellationToken);
        var now = time.GetUtcNow();
        var demand = RefreshDemand.ValidFor(minTtl);
        switch (RefreshRules.Decide(session, demand, now))
        {
            case RowAction.Invalid:
                return new RefreshOutcome(RefreshStatus.InvalidSession);
            case RowAction.ReauthRequired:
                return new RefreshOutcome(RefreshStatus.ReauthRequired, session);
            case RowAction.Serve or RowAction.ServeInBackoff:
                // The fast path: one point read, no provider call.
                var current = await coordinator.CurrentAsync(session!);
                if (current.Status == RefreshStatus.Current)
                {
                    await RecordActivityAsync(session!, now);
                }

                return current;
        }

        // The row just read starts the flight (its ETag guards the lease claim): no second read.
        var outcome = await coordinator.EnsureCurrentAsync(key, demand, cancellationToken, lastRead: session);
        if (outcome is { Status: RefreshStatus.Unavailable or RefreshStatus.RateLimited or RefreshStatus.Busy or RefreshStatus.ProviderError or RefreshStatus.TemporarilyUnavailable, Session: { AccessToken: not null } stale }
            && stale.AccessTokenExpiresAt > time.GetUtcNow())
        {
            // The provider (or our storage, while a rotated token's write is retried) is down but the stored token
            // still works: serve it (refreshed: false) rather than fail.
            Log.ServingStoredToken(logger, key, outcome.Error ?? "");
            return await coordinator.CurrentAsync(stale);
        }

        return outcome;
    }

    /// <summary>
    /// Deletes the session and, as the provider's <see cref="ProviderOptions.SignOutRevocation"/> and the app's
    /// <paramref name="revokeGrant"/> decide (<see cref="SignOutRules"/>), revokes its refresh token at the provider
    /// (RFC 7009, best effort). Idempotent.
    /// </summary>
    /// <returns><see cref="SignOutAction.Refuse"/> when nothing was done because revocation was asked for and is not allowed.</returns>
    public async Task<SignOutAction> RevokeAsync(SessionKey key, CancellationToken cancellationToken, bool? revokeGrant = null)
    {
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var session = await store.GetAsync(key, cancellationToken);
            if (session is null)
            {
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
