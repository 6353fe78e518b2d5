using FunctionsAuth.Storage;

namespace FunctionsAuth.Sessions;

/// <summary>What a session row gets now, for a given demand. Every reader of a row switches on this one answer.</summary>
internal enum RowAction
{
    /// <summary>No such session (unknown or deleted).</summary>
    Invalid,

    /// <summary>The provider refused the grant: the user must sign in again.</summary>
    ReauthRequired,

    /// <summary>The stored access token meets the demand.</summary>
    Serve,

    /// <summary>
    /// It does not, but the provider failed lately and the session is in back-off: a still-valid stored token is served
    /// rather than calling a failing provider on every request.
    /// </summary>
    ServeInBackoff,

    /// <summary>Someone (this or another instance) holds the refresh lease: wait for its result.</summary>
    WaitForLease,

    /// <summary>Claim the lease and refresh at the provider.</summary>
    Refresh,
}

/// <summary>
/// The refresh rules in one place, as a pure function of (row, demand, time): the request path, the coordinator's loop
/// and the sweeper's triage ask it instead of each deriving the answer. The demand's own rule (<c>min_ttl</c>, or the
/// sweeper's "no longer due") is in <see cref="RefreshDemand"/>; the schedule (due and purge times) in
/// <see cref="RefreshSchedule"/>.
/// </summary>
internal static class RefreshRules
{
    /// <summary>
    /// The share of an access token's lifetime that passes before it is refreshed ahead of expiry, whatever the refresh
    /// window. Tokens shorter than the window (Keycloak's 5 minutes against the 10-minute default) would otherwise be due
    /// the moment they are issued, and every sweep would refresh every active session.
    /// </summary>
    public const double MinLifetimeFraction = 0.5;

    /// <summary>Why a session whose refresh token outlived its announced lifetime (<c>refresh_expires_in</c>) must sign in again.</summary>
    public const string RefreshTokenExpired = "refresh_token_expired";

    /// <summary>
    /// When a token issued at <paramref name="issuedAt"/> and expiring at <paramref name="expiresAt"/> becomes due for a
    /// refresh ahead of expiry: <paramref name="refreshWindow"/> before it expires, but not before
    /// <see cref="MinLifetimeFraction"/> of its lifetime has passed. A token of unknown age is due by the window alone.
    /// </summary>
    public static DateTimeOffset ProactiveRefreshAt(DateTimeOffset? issuedAt, DateTimeOffset expiresAt, TimeSpan refreshWindow)
    {
        var byWindow = expiresAt - refreshWindow;
        if (issuedAt is not { } issued || expiresAt <= issued)
        {
            return byWindow;
        }

        var byAge = issued + ((expiresAt - issued) * MinLifetimeFraction);
        return byAge > byWindow ? byAge : byWindow;
    }

    public static RowAction Decide(SessionEntity? row, RefreshDemand demand, DateTimeOffset now)
    {
        if (row is null)
        {
            return RowAction.Invalid;
        }

        if (row.Status == SessionStatus.ReauthRequired)
        {
            return RowAction.ReauthRequired;
        }

        if (demand.IsSatisfiedBy(row, now))
        {
            return RowAction.Serve;
        }

        if (row.RefreshTokenExpiresAt <= now)
        {
            // The provider said when its refresh token dies, and it has: a refresh could only be refused.
            return RowAction.ReauthRequired;
        }

        if (row.IsLeased(now))
        {
            return RowAction.WaitForLease;
        }

        if (demand.ServesDuringBackoff && row.AccessToken is not null && row.AccessTokenExpiresAt > now && row.NextAttemptAt > now)
        {
            return RowAction.ServeInBackoff;
        }

        return RowAction.Refresh;
    }
}
