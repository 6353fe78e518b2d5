using Azure;
using Azure.Data.Tables;
using FunctionsAuth.Sessions;

namespace FunctionsAuth.Storage;

/// <summary>
/// An access token for a narrower scope or another resource than the session's own (<c>scope</c>/<c>resource</c> on
/// <c>POST /api/auth/refresh</c>), cached in the session's partition: row key = the session key, <see cref="Separator"/>,
/// the token key (<see cref="TokenScope.Key"/>). The refresh token and the lease stay on the session row; this row is
/// only ever written together with it, in one entity group transaction under the lease.
/// </summary>
internal sealed class ScopedTokenEntity : ITableEntity
{
    /// <summary>Between the session key and the token key: no session row key contains it, so no scan mistakes one for the other.</summary>
    public const char Separator = '~';

    /// <summary>
    /// Scoped tokens cached per session. A new one beyond it evicts the least recently used (in the transaction that adds
    /// it), so the partition stays far under a transaction's 100 rows and revocation deletes it in one.
    /// </summary>
    public const int MaxPerSession = 20;

    public string PartitionKey { get; set; } = "";
    public string RowKey { get; set; } = "";
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    /// <summary>The canonical scope asked for (null: the session's own, with a resource).</summary>
    public string? RequestedScope { get; set; }

    public string? Resource { get; set; }

    /// <summary>What the provider said it granted (its <c>scope</c>), else what was asked.</summary>
    public string? Scope { get; set; }

    public byte[]? AccessToken { get; set; }
    public string? TokenType { get; set; }
    public DateTimeOffset? AccessTokenIssuedAt { get; set; }
    public DateTimeOffset? AccessTokenExpiresAt { get; set; }

    /// <summary>Id of the encryption key <see cref="AccessToken"/> is under. One under a key no longer held reads as no token (fetched again).</summary>
    public string? KeyId { get; set; }

    /// <summary>Incremented by every write of a new token; bound into its ciphertext.</summary>
    public long Generation { get; set; }

    /// <summary>Last time a front end asked for this token: the least recently used row is the one evicted at the cap.</summary>
    public DateTimeOffset LastUsedAt { get; set; }

    /// <summary>The token key a scoped row key ends with (<see cref="TokenScope.Key"/>).</summary>
    public static string TokenKeyOf(string rowKey) => rowKey[(rowKey.IndexOf(Separator, StringComparison.Ordinal) + 1)..];

    public static string RowKeyOf(SessionKey session, string tokenKey) => session.Value + Separator + tokenKey;

    /// <summary>Whether a row of the sessions table is a scoped token's rather than a session's.</summary>
    public static bool IsScopedRow(string rowKey) => rowKey.Contains(Separator, StringComparison.Ordinal);

    public ScopedTokenEntity Clone() => (ScopedTokenEntity)MemberwiseClone();

    /// <summary>
    /// The session as the refresh rules see it for this token: the session's status, lease, refresh-token death and back-off,
    /// with this token's fields (none, when <paramref name="scoped"/> is null: not cached yet). <see cref="RefreshRules.Decide"/>
    /// and the demands then answer for a scoped token exactly as for the session's own.
    /// </summary>
    public static SessionEntity ViewOf(SessionEntity session, ScopedTokenEntity? scoped)
    {
        var view = session.Clone();
        view.AccessToken = scoped?.AccessToken;
        view.TokenType = scoped?.TokenType;
        view.Scope = scoped?.Scope;
        view.AccessTokenIssuedAt = scoped?.AccessTokenIssuedAt;
        view.AccessTokenExpiresAt = scoped?.AccessTokenExpiresAt;
        view.LastUsedAt = scoped?.LastUsedAt ?? session.LastUsedAt;
        return view;
    }
}
