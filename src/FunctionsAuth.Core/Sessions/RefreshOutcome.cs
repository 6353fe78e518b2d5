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

/// <summary>What a caller needs from the stored access token.</summary>
internal readonly record struct RefreshDemand(TimeSpan MinTtl, bool RecordActivity)
{
    /// <summary>A token this young is as fresh as a refresh could make it: never refresh it again for min_ttl.</summary>
    public static readonly TimeSpan FreshnessGrace = TimeSpan.FromSeconds(30);

    /// <summary>
    /// True when the stored token is valid for at least <see cref="MinTtl"/>, or when a refresh could not do
    /// better (the token's whole lifetime is shorter than min_ttl and it was issued moments ago): no refresh loop.
    /// </summary>
    public bool IsSatisfiedBy(SessionEntity session, DateTimeOffset now)
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
