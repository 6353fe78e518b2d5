using FunctionsAuth.Configuration;
using FunctionsAuth.Storage;

namespace FunctionsAuth.Sessions;

internal enum RefreshStatus
{
    /// <summary>The stored access token meets the demand (nobody had to call the provider, or someone else did).</summary>
    Current,

    /// <summary>This flight refreshed the session at the provider.</summary>
    Refreshed,

    /// <summary>Unknown, revoked or undecryptable session.</summary>
    InvalidSession,

    /// <summary>The provider refused the refresh token (invalid_grant): the user must sign in again.</summary>
    ReauthRequired,

    /// <summary>The provider could not be reached, rate-limited us, or the outcome of the call is unknown.</summary>
    Unavailable,

    /// <summary>The provider refused the request for a configuration reason (invalid_client, invalid_scope...).</summary>
    ProviderError,
}

/// <summary>
/// The result of making a session's access token current. Carries the row as it now is and, where one was read
/// or issued, the access token in clear (never logged).
/// </summary>
internal sealed record RefreshOutcome(
    RefreshStatus Status,
    SessionEntity? Session = null,
    string? AccessToken = null,
    TimeSpan? RetryAfter = null,
    string? Error = null,
    string? IdToken = null);

/// <summary>
/// What a caller needs from the stored session before it may skip a refresh. The request path and the sweeper share
/// one coordinator (one single-flight, one lease) and differ only in their demand.
/// </summary>
/// <param name="RecordActivity">Whether a refresh made for this demand counts as use of the session (a front end asked; the sweeper did not).</param>
/// <param name="LeavesPreviousIndexRow">
/// A flight started for this demand moves the session's due-index row without deleting the previous one: the sweeper
/// deletes the rows it scanned itself, in batches per bucket. A row left behind is stale at worst, never missing.
/// </param>
internal abstract record RefreshDemand(bool RecordActivity, bool LeavesPreviousIndexRow = false)
{
    public abstract bool IsSatisfiedBy(SessionEntity session, DateTimeOffset now);

    /// <summary>A front end's need: an access token still valid for <paramref name="minTtl"/>.</summary>
    public static RefreshDemand ValidFor(TimeSpan minTtl, bool recordActivity = true) => new AccessTokenDemand(minTtl, recordActivity);

    /// <summary>The sweeper's need: the session is no longer due for a refresh (<see cref="RefreshSchedule.RefreshDueAt"/> is in the future).</summary>
    public static RefreshDemand NoLongerDue(FunctionsAuthOptions options) => new ScheduleDemand(options);
}

/// <summary>An access token valid for at least <see cref="MinTtl"/>.</summary>
internal sealed record AccessTokenDemand(TimeSpan MinTtl, bool RecordActivity) : RefreshDemand(RecordActivity)
{
    /// <summary>A token this young is as fresh as a refresh could make it: never refresh it again for min_ttl.</summary>
    public static readonly TimeSpan FreshnessGrace = TimeSpan.FromSeconds(30);

    /// <summary>
    /// True when the stored token is valid for at least <see cref="MinTtl"/>, or when a refresh could not do
    /// better (the token's whole lifetime is shorter than min_ttl and it was issued moments ago): no refresh loop.
    /// </summary>
    public override bool IsSatisfiedBy(SessionEntity session, DateTimeOffset now)
    {
        if (session.AccessToken is null || session.AccessTokenExpiresAt is not { } expiresAt)
        {
            return false;
        }

        if (expiresAt - now >= MinTtl)
        {
            return true;
        }

        return session.AccessTokenIssuedAt is { } issuedAt && now - issuedAt < FreshnessGrace && expiresAt > now;
    }
}

/// <summary>
/// The sweeper's demand: satisfied once the row is no longer due, whoever refreshed it. A refresh made for it does not
/// count as use, so a session nobody uses drops out of the proactive window after <c>ActivityWindow</c>.
/// </summary>
internal sealed record ScheduleDemand(FunctionsAuthOptions Options) : RefreshDemand(RecordActivity: false, LeavesPreviousIndexRow: true)
{
    public override bool IsSatisfiedBy(SessionEntity session, DateTimeOffset now) =>
        RefreshSchedule.RefreshDueAt(session, Options) is not { } due || due > now;
}
