using Azure;
using Azure.Data.Tables;

namespace FunctionsAuth.Storage;

/// <summary>
/// One session: a partition of its own and one row, both keyed by the session key (SHA-256 of the handle). Tokens are
/// AES-GCM ciphertexts bound to this row, field, provider and generation. Every update is conditional on <see cref="ETag"/>.
/// </summary>
/// <remarks>
/// The row key repeats the partition key rather than being a constant: Azure does not care, but Azurite looks entities
/// up by row key first, so a row key shared by every session made each point operation there scan all sessions.
/// </remarks>
internal sealed class SessionEntity : ITableEntity
{
    public string PartitionKey { get; set; } = "";
    public string RowKey { get; set; } = "";
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public string Provider { get; set; } = "";

    /// <summary>The app's own id for the user (<c>subject</c> at registration): not a secret, put in events, never logged.</summary>
    public string? Subject { get; set; }
    public string Status { get; set; } = SessionStatus.Active;
    public DateTimeOffset? StatusChangedAt { get; set; }

    public byte[]? RefreshToken { get; set; }
    public byte[]? AccessToken { get; set; }
    public string? TokenType { get; set; }
    public string? Scope { get; set; }
    public DateTimeOffset? AccessTokenIssuedAt { get; set; }
    public DateTimeOffset? AccessTokenExpiresAt { get; set; }

    /// <summary>Id of the encryption key the token fields are under (the sweeper re-encrypts old ones).</summary>
    public string? KeyId { get; set; }

    /// <summary>Ciphertext format of the token fields (null on rows written before format 2: the sweeper re-encrypts them).</summary>
    public int? TokenFormat { get; set; }

    /// <summary>
    /// The caller that created the session (<c>app:&lt;client id&gt;</c>, <c>key:&lt;name&gt;</c> or <c>default</c>): only it may
    /// refresh or revoke the session. Null on rows written before sessions were bound to their caller.
    /// </summary>
    public string? Owner { get; set; }

    /// <summary>Incremented by every successful refresh: tells "my write landed" from "someone else's did".</summary>
    public long Generation { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset LastUsedAt { get; set; }

    /// <summary>
    /// When the refresh token itself dies, where the provider says (<c>refresh_expires_in</c>); null when it does not. Past
    /// it the session is <c>reauth_required</c> without a provider call, and nothing keeps it alive beyond it.
    /// </summary>
    public DateTimeOffset? RefreshTokenExpiresAt { get; set; }

    /// <summary>Last time the refresh token was spent (or handed over): idle keep-alive counts from here.</summary>
    public DateTimeOffset? LastRefreshedAt { get; set; }

    public string? LeaseId { get; set; }
    public DateTimeOffset? LeaseExpiresAt { get; set; }

    /// <summary>Where the session sits in the due index (null: not indexed).</summary>
    public DateTimeOffset? DueAt { get; set; }

    /// <summary>
    /// How many scoped token rows (<see cref="ScopedTokenEntity"/>) the partition holds: kept in step by the transactions that
    /// add and evict them, so deleting a session without any costs no partition query.
    /// </summary>
    public int ScopedTokens { get; set; }

    /// <summary>
    /// The earliest time one of its scoped tokens in use is due for a refresh ahead of expiry (<see cref="Sessions.RefreshSchedule.ScopedDueAt"/>),
    /// kept by the writes that change them: with the session's own due time, it places the row in the due index.
    /// </summary>
    public DateTimeOffset? ScopedDueAt { get; set; }

    public int FailureCount { get; set; }
    public DateTimeOffset? FirstFailureAt { get; set; }
    public DateTimeOffset? NextAttemptAt { get; set; }

    /// <summary>Last failure as an error code (never a provider body).</summary>
    public string? LastError { get; set; }

    public bool IsLeased(DateTimeOffset now) => LeaseId is not null && LeaseExpiresAt > now;

    public SessionEntity Clone() => (SessionEntity)MemberwiseClone();
}

internal static class SessionStatus
{
    public const string Active = "active";
    public const string ReauthRequired = "reauth_required";

    /// <summary>Refresh kept failing for longer than the sweeper's limit: reported, refreshed only on demand.</summary>
    public const string Failing = "failing";
}

/// <summary>Due index row: partition = the minute the session becomes due, row = session key.</summary>
internal sealed class DueIndexEntity : ITableEntity
{
    public string PartitionKey { get; set; } = "";
    public string RowKey { get; set; } = "";
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }
}
