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

    /// <summary>The provider could not be reached, or the outcome of the call is unknown.</summary>
    Unavailable,

    /// <summary>The provider is rate-limiting token requests (429); <see cref="RefreshOutcome.RetryAfter"/> says for how long.</summary>
    RateLimited,

    /// <summary>Another caller (or instance) holds the refresh lease and did not finish within the wait: nothing was sent.</summary>
    Busy,

    /// <summary>The provider refused the request for a configuration reason (invalid_client, invalid_scope...).</summary>
    ProviderError,

    /// <summary>
    /// The scope or resource asked for is not allowed (the provider's <c>AllowedScopes</c>/<c>AllowedResources</c>, or the
    /// session's grant), or the provider refused it: the session and its refresh token are unchanged.
    /// </summary>
    InvalidScope,

    /// <summary>FunctionsAuth's own storage did not answer; nothing was lost (a rotated token is still being written under the lease).</summary>
    TemporarilyUnavailable,
}

/// <summary>
/// The result of making a session's access token current. Carries the row as it now is and, where one was read
/// or issued, the access token in clear (never logged).
/// </summary>
/// <param name="Scoped">
/// For a scoped token: its row as read or written (<see cref="Session"/> is then the session as seen for that token,
/// <see cref="ScopedTokenEntity.ViewOf"/>).
/// </param>
/// <param name="ServedStale">
/// A <see cref="RefreshStatus.Current"/> token that does not meet the demand, served because the provider is failing
/// (the session is in back-off, or the refresh just failed) while the token is still valid.
/// </param>
internal sealed record RefreshOutcome(
    RefreshStatus Status,
    SessionEntity? Session = null,
    string? AccessToken = null,
    TimeSpan? RetryAfter = null,
    string? Error = null,
    string? IdToken = null,
    bool ServedStale = false,
    ScopedTokenEntity? Scoped = null)
{
    /// <summary>
    /// The outcome for a row <see cref="RefreshRules.Decide"/> answers <see cref="RowAction.ReauthRequired"/> for: the
    /// provider's refusal where it refused, <see cref="RefreshRules.RefreshTokenExpired"/> where the refresh token died by
    /// its announced lifetime (the row may not say so yet: the sweeper records it), never an older transient failure.
    /// </summary>
    public static RefreshOutcome ReauthRequired(SessionEntity session) =>
        new(RefreshStatus.ReauthRequired, session, Error: session.Status == SessionStatus.ReauthRequired ? session.LastError : RefreshRules.RefreshTokenExpired);
}

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

    /// <summary>
    /// A front end's first look at a row in back-off takes a still-valid token over a call to a failing provider.
    /// The sweeper does not ask: its due times already wait out the back-off.
    /// </summary>
    public virtual bool ServesDuringBackoff => false;

    /// <summary>
    /// Whether a transition this flight makes is announced as an event. Not for the refresh that vouches for a hand-over:
    /// until it answers 201 the app holds no handle, and a refused hand-over deletes the session again.
    /// </summary>
    public bool Announces { get; init; } = true;

    /// <summary>A front end's need: an access token still valid for <paramref name="minTtl"/>.</summary>
    public static RefreshDemand ValidFor(TimeSpan minTtl, bool recordActivity = true, bool announces = true) => new AccessTokenDemand(minTtl, recordActivity) { Announces = announces };

    /// <summary>The sweeper's need for a scoped token: it is no longer due (<see cref="RefreshSchedule.ScopedTokenDueAt"/>).</summary>
    public static RefreshDemand ScopedNoLongerDue(FunctionsAuthOptions options) => new ScheduleDemand(options) { ForScopedToken = true };

    /// <summary>The sweeper's need: the session is no longer due for a refresh (<see cref="RefreshSchedule.RefreshDueAt"/> is in the future).</summary>
    public static RefreshDemand NoLongerDue(FunctionsAuthOptions options) => new ScheduleDemand(options);
}

/// <summary>An access token valid for at least <see cref="MinTtl"/>.</summary>
internal sealed record AccessTokenDemand(TimeSpan MinTtl, bool RecordActivity) : RefreshDemand(RecordActivity)
{
    public override bool ServesDuringBackoff => true;

    /// <summary>Validity a fresh token must have beyond <see cref="MinTtl"/> for a refresh to count as meeting it (at most a twentieth of its lifetime).</summary>
    public static readonly TimeSpan MinUsefulValidity = TimeSpan.FromMinutes(1);

    /// <summary>
    /// True when the stored token is valid for at least <see cref="MinTtl"/>. When even a fresh token cannot give that
    /// (its lifetime, known from the last refresh, is not <see cref="MinTtl"/> plus a useful margin), a refresh would not
    /// satisfy the caller either: the token is then served until half its lifetime has passed, so such a caller costs
    /// one provider call per half lifetime and gets the longest-lived token the provider issues, never a refresh per call.
    /// </summary>
    public override bool IsSatisfiedBy(SessionEntity session, DateTimeOffset now)
    {
        if (session.AccessToken is null || session.AccessTokenExpiresAt is not { } expiresAt || expiresAt <= now)
        {
            return false;
        }

        if (expiresAt - now >= MinTtl)
        {
            return true;
        }

        if (session.AccessTokenIssuedAt is not { } issuedAt || expiresAt <= issuedAt)
        {
            // A handed-over token of unknown age: a refresh tells what the provider's tokens live.
            return false;
        }

        var lifetime = expiresAt - issuedAt;

        var margin = lifetime / 20 < MinUsefulValidity ? lifetime / 20 : MinUsefulValidity;
        var refreshCanSatisfy = lifetime - margin >= MinTtl;
        return !refreshCanSatisfy && now - issuedAt < lifetime / 2;
    }
}

/// <summary>
/// The sweeper's demand: satisfied once the row is no longer due, whoever refreshed it. A refresh made for it does not
/// count as use, so a session nobody uses drops out of the proactive window after <c>ActivityWindow</c>.
/// </summary>
internal sealed record ScheduleDemand(FunctionsAuthOptions Options) : RefreshDemand(RecordActivity: false, LeavesPreviousIndexRow: true)
{
    /// <summary>For a scoped token's view (<see cref="ScopedTokenEntity.ViewOf"/>): its due time knows no keep-alive.</summary>
    public bool ForScopedToken { get; init; }

    public override bool IsSatisfiedBy(SessionEntity session, DateTimeOffset now) =>
        RefreshSchedule.RefreshDueAt(session, Options, keepAlive: !ForScopedToken) is not { } due || due > now;
}
