namespace FunctionsAuth.OAuth;

/// <summary>What a token endpoint issued. <see cref="RefreshToken"/> is null when the provider kept the old one (RFC 6749 §6).</summary>
internal sealed record TokenSet(
    string AccessToken,
    string TokenType,
    TimeSpan? ExpiresIn,
    string? RefreshToken,
    string? Scope,
    string? IdToken,
    TimeSpan? RefreshExpiresIn = null);

internal enum TokenFailureKind
{
    /// <summary>The grant is dead (revoked, expired, reused): the user must sign in again. Never retried.</summary>
    InvalidGrant,

    /// <summary>Client authentication failed even after reloading the client secret.</summary>
    InvalidClient,

    /// <summary>
    /// The provider will not grant the scope or resource asked for (<c>invalid_scope</c>, RFC 8707's <c>invalid_target</c>).
    /// An error answer spends and rotates nothing: the refresh token is as good as before.
    /// </summary>
    InvalidScope,

    /// <summary>The provider refused the request for another reason (invalid_scope, unauthorized_client...). A configuration problem.</summary>
    Rejected,

    /// <summary>The provider could not have processed the request (refused connection, 5xx, 429, open circuit): safe to try later.</summary>
    Unavailable,

    /// <summary>The request may have been processed (time-out, connection dropped mid-response): the refresh token may be spent.</summary>
    OutcomeUnknown,
}

/// <summary>The <see cref="TokenResult.Error"/> values that are ours rather than a provider's OAuth error code.</summary>
internal static class TokenErrors
{
    public const string RateLimited = "rate_limited";
    public const string CircuitOpen = "circuit_open";
    public const string ServerError = "server_error";
}

/// <summary>A token request's answer. Protocol failures are results; broken configuration is an exception.</summary>
internal sealed record TokenResult
{
    private TokenResult(TokenSet? tokens, TokenFailureKind? failure, string? error, TimeSpan? retryAfter)
    {
        Tokens = tokens;
        Failure = failure;
        Error = error;
        RetryAfter = retryAfter;
    }

    public TokenSet? Tokens { get; }
    public TokenFailureKind? Failure { get; }

    /// <summary>The provider's OAuth error code or a short description of the transport failure (never a body).</summary>
    public string? Error { get; }

    public TimeSpan? RetryAfter { get; }

    [System.Diagnostics.CodeAnalysis.MemberNotNullWhen(true, nameof(Tokens))]
    [System.Diagnostics.CodeAnalysis.MemberNotNullWhen(false, nameof(Failure))]
    public bool Succeeded => Tokens is not null;

    public static TokenResult Success(TokenSet tokens) => new(tokens, null, null, null);

    public static TokenResult Failed(TokenFailureKind kind, string error, TimeSpan? retryAfter = null) => new(null, kind, error, retryAfter);

    /// <summary>This result, with <paramref name="retryAfter"/> when it is a "try again later" that names no delay of its own.</summary>
    public TokenResult WithRetryAfterIfNone(TimeSpan retryAfter) =>
        RetryAfter is null && Failure is TokenFailureKind.Unavailable or TokenFailureKind.OutcomeUnknown ? new(null, Failure, Error, retryAfter) : this;
}
