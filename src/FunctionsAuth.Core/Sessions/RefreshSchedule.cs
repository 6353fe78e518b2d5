using FunctionsAuth.Configuration;
using FunctionsAuth.Storage;

namespace FunctionsAuth.Sessions;

/// <summary>
/// When the sweeper should next look at a session: the single rule shared by every writer of a row. A row's
/// <see cref="SessionEntity.DueAt"/> (its place in the due index) is the earlier of its next refresh and its purge.
/// </summary>
internal static class RefreshSchedule
{
    /// <summary>The next time the sweeper has something to do with <paramref name="session"/>: refresh it or purge it.</summary>
    public static DateTimeOffset DueAt(SessionEntity session, FunctionsAuthOptions options)
    {
        var purge = PurgeAt(session, options.Sweeper);
        var refresh = Earliest(RefreshDueAt(session, options), ScopedRefreshDueAt(session)) ?? DiesAt(session);
        return refresh is { } due && due < purge ? due : purge;
    }

    /// <summary>
    /// When the sweeper next refreshes one of the session's scoped tokens (its stored <see cref="SessionEntity.ScopedDueAt"/>,
    /// pushed out by a back-off); null when none is in use or the session is not active.
    /// </summary>
    public static DateTimeOffset? ScopedRefreshDueAt(SessionEntity session) =>
        session.Status != SessionStatus.Active || session.RefreshToken is null || session.ScopedDueAt is not { } due ? null
            : session.NextAttemptAt is { } next && next > due ? next : due;

    /// <summary>
    /// When the sweeper should refresh <paramref name="scoped"/> ahead of expiry: the session's own rules on the token's
    /// fields (<see cref="ScopedTokenEntity.ViewOf"/>), counting the token's own last use, and without the idle keep-alive,
    /// which the session's own token already gives the one refresh token. Null: not planned (not in use).
    /// </summary>
    public static DateTimeOffset? ScopedTokenDueAt(SessionEntity session, ScopedTokenEntity scoped, FunctionsAuthOptions options) =>
        scoped.AccessTokenExpiresAt is null ? null : RefreshDueAt(ScopedTokenEntity.ViewOf(session, scoped), options, keepAlive: false);

    /// <summary>The earliest <see cref="ScopedTokenDueAt"/> over <paramref name="rows"/>: the session's <see cref="SessionEntity.ScopedDueAt"/>.</summary>
    public static DateTimeOffset? ScopedDueAt(SessionEntity session, IEnumerable<ScopedTokenEntity> rows, FunctionsAuthOptions options) =>
        rows.Select(row => ScopedTokenDueAt(session, row, options)).Aggregate((DateTimeOffset?)null, Earliest);

    private static DateTimeOffset? Earliest(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a < b ? a : b;

    /// <summary>
    /// When a live session's refresh token dies by its announced lifetime, so the sweeper looks at it then and records
    /// <c>reauth_required</c> (with its event) instead of the row staying active until its purge. Null: nothing to record.
    /// </summary>
    private static DateTimeOffset? DiesAt(SessionEntity session) =>
        session.Status is SessionStatus.Active or SessionStatus.Failing ? session.RefreshTokenExpiresAt : null;

    /// <summary>
    /// Active sessions (used within the provider's activity window) are due <c>RefreshWindow</c> before their access
    /// token expires, but not before half its lifetime (<see cref="RefreshRules.ProactiveRefreshAt"/>); every session is
    /// due when its refresh token has been idle for <c>IdleRefreshInterval</c>, so it does not lapse from disuse, unless
    /// the provider's keep-alive is off. Nothing is due once the refresh token has died (where the provider says when),
    /// and where it says, only use within the refresh token's own lifetime counts as active. A back-off after failures
    /// pushes the time out. Null: no refresh planned.
    /// </summary>
    /// <param name="keepAlive">Whether the idle keep-alive counts (the session's own token; not a scoped token's).</param>
    public static DateTimeOffset? RefreshDueAt(SessionEntity session, FunctionsAuthOptions options, bool keepAlive = true)
    {
        if (session.Status != SessionStatus.Active || session.RefreshToken is null)
        {
            return null;
        }

        options.Providers.TryGetValue(session.Provider, out var provider);
        var lastRefreshed = session.LastRefreshedAt ?? session.CreatedAt;
        var dies = session.RefreshTokenExpiresAt;
        var activityWindow = provider?.ActivityWindow ?? options.Sweeper.ActivityWindow;
        if (provider?.ActivityWindow is null && dies - lastRefreshed is { } refreshLifetime && refreshLifetime < activityWindow)
        {
            activityWindow = refreshLifetime;
        }

        DateTimeOffset? due = keepAlive && (provider?.KeepAlive ?? (dies is null)) ? lastRefreshed + options.Sweeper.IdleRefreshInterval : null;
        var proactive = RefreshRules.ProactiveRefreshAt(session.AccessTokenIssuedAt, session.AccessTokenExpiresAt ?? session.CreatedAt, options.RefreshWindow);
        if (proactive <= session.LastUsedAt + activityWindow && (due is null || proactive < due))
        {
            due = proactive;
        }

        var at = due is { } planned && session.NextAttemptAt is { } next && next > planned ? next : due;

        // A refresh is planned only where a sweeper run can still make it before the refresh token dies: the window is
        // validated to exceed the sweeper interval plus the lease. Otherwise the row waits for its purge; a caller asking
        // after the death is told reauth_required without a provider call (RefreshRules).
        return at + options.RefreshWindow > dies ? null : at;
    }

    /// <summary>
    /// When the row is deleted: past the absolute lifetime whatever its state; a session the user must sign in to again
    /// once the front end has had the retention period to read that state. (A revoked session is deleted at once.)
    /// </summary>
    public static DateTimeOffset PurgeAt(SessionEntity session, SweeperOptions options)
    {
        var end = session.CreatedAt + options.AbsoluteLifetime;
        if (session.RefreshTokenExpiresAt is { } dies && dies + options.RetentionPeriod < end)
        {
            // Dead at the provider: kept for the front end to read reauth_required, then purged like a refused session.
            end = dies + options.RetentionPeriod;
        }

        if (session.Status == SessionStatus.ReauthRequired)
        {
            var retained = (session.StatusChangedAt ?? session.CreatedAt) + options.RetentionPeriod;
            return retained < end ? retained : end;
        }

        return end;
    }

    /// <summary>Exponential back-off with full jitter between half and all of the step, capped.</summary>
    public static TimeSpan Backoff(int failureCount, SweeperOptions options)
    {
        var step = options.InitialBackoff * Math.Pow(2, Math.Clamp(failureCount - 1, 0, 20));
        if (step > options.MaxBackoff)
        {
            step = options.MaxBackoff;
        }

        return step * (0.5 + (Random.Shared.NextDouble() / 2));
    }
}
