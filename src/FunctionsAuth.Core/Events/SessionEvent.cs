using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;

namespace FunctionsAuth.Events;

/// <summary>The session transitions FunctionsAuth announces; each is the tail of the CloudEvents <c>type</c> (<c>functionsauth.session.&lt;kind&gt;</c>).</summary>
public static class SessionEventKinds
{
    /// <summary>The provider refused the refresh token (<c>invalid_grant</c> or an interaction code): the user must sign in again.</summary>
    public const string ReauthRequired = "reauth_required";

    /// <summary>Refreshing has kept failing for longer than <c>Sweeper:MaxFailureDuration</c>.</summary>
    public const string Failing = "failing";

    /// <summary>A session that was <see cref="Failing"/> refreshed again.</summary>
    public const string Recovered = "recovered";

    /// <summary>Revoked through <c>POST /api/auth/revoke</c>.</summary>
    public const string Revoked = "revoked";

    /// <summary>Deleted by the sweeper (retention after reauth_required or idleness, or the absolute lifetime).</summary>
    public const string Purged = "purged";

    public const string TypePrefix = "functionsauth.session.";

    public static IReadOnlyList<string> All { get; } = [ReauthRequired, Failing, Recovered, Revoked, Purged];
}

/// <summary>
/// One transition of one session, as it goes into an event: never a token or a handle. <see cref="Id"/> is derived
/// from the transition itself (session, kind, the row's generation and the time the transition happened), so a
/// second emission of the same transition, and every redelivery of its message, carry the same id: receivers
/// de-duplicate on it.
/// </summary>
/// <param name="Session">The session's log id (the first 12 hex digits of the session key's SHA-256, as the logs name it).</param>
/// <param name="Reason">The provider's error code (or FunctionsAuth's code for a transport failure); never a provider's free text.</param>
/// <param name="Cause">For <see cref="SessionEventKinds.Purged"/>: why (<c>retention</c>, <c>absolute_lifetime</c>).</param>
internal sealed record SessionEvent(
    string Id,
    string Kind,
    string Session,
    string Provider,
    string? Subject,
    string? Reason,
    string? Cause,
    DateTimeOffset Time)
{
    public string Type => SessionEventKinds.TypePrefix + Kind;

    /// <summary>The event for <paramref name="row"/> having just made the transition <paramref name="kind"/> at <paramref name="at"/>.</summary>
    /// <param name="row">The row as written by the transition (for revoked and purged: as it was when deleted).</param>
    /// <param name="at">When the transition happened (the event's <c>time</c>).</param>
    public static SessionEvent For(string kind, SessionEntity row, DateTimeOffset at, string? reason = null, string? cause = null)
    {
        var key = new SessionKey(row.PartitionKey);
        // Everything in the id comes from the row, so emitting again from the same row cannot change it: the status
        // change (reauth_required, recovered), the failure episode's start (failing), or for a deletion, which happens
        // once per session, the session's creation.
        var episode = kind switch
        {
            SessionEventKinds.ReauthRequired or SessionEventKinds.Recovered => row.StatusChangedAt ?? at,
            SessionEventKinds.Failing => row.FirstFailureAt ?? at,
            _ => row.CreatedAt,
        };

        // The session key is the table's key; the id must not reveal it, only be unique per transition.
        var material = string.Join('|', key.Value, kind, row.Generation.ToString(CultureInfo.InvariantCulture), episode.UtcTicks.ToString(CultureInfo.InvariantCulture));
        var id = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(material)).AsSpan(0, 16));
        return new SessionEvent(id, kind, key.LogId, row.Provider, row.Subject, ReasonCode(reason), cause, at);
    }

    /// <summary>A stored error code as a reason: the outcome-unknown marker is FunctionsAuth's bookkeeping, not the provider's answer.</summary>
    private static string? ReasonCode(string? error) =>
        error is { Length: > 0 } code
            ? code.StartsWith(RefreshCoordinator.OutcomeUnknownPrefix, StringComparison.Ordinal) ? code[RefreshCoordinator.OutcomeUnknownPrefix.Length..] : code
            : null;
}
