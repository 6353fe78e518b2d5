using Microsoft.Extensions.Logging;

namespace FunctionsAuth.Sessions;

internal static partial class Log
{
    [LoggerMessage(3000, LogLevel.Information, "Session {Session} created for provider {Provider}.")]
    public static partial void SessionCreated(ILogger logger, SessionKey session, string provider);

    [LoggerMessage(3001, LogLevel.Information, "Session {Session} revoked (provider {Provider}).")]
    public static partial void SessionRevoked(ILogger logger, SessionKey session, string provider);

    [LoggerMessage(3031, LogLevel.Debug, "Session {Session}: its grant at provider {Provider} is left alone (SignOutRevocation and the request).")]
    public static partial void GrantKept(ILogger logger, SessionKey session, string provider);

    [LoggerMessage(3002, LogLevel.Debug, "Refresh lease on session {Session} taken.")]
    public static partial void LeaseTaken(ILogger logger, SessionKey session);

    [LoggerMessage(3003, LogLevel.Information, "Session {Session} refreshed at provider {Provider} (rotated refresh token: {Rotated}).")]
    public static partial void Refreshed(ILogger logger, SessionKey session, string provider, bool rotated);

    [LoggerMessage(3004, LogLevel.Warning, "Provider {Provider} refused the refresh token of session {Session} ({Reason}): sign-in required.")]
    public static partial void ReauthRequired(ILogger logger, SessionKey session, string provider, string reason);

    [LoggerMessage(3005, LogLevel.Error, "Session {Session} could not be decrypted (wrong row, tampered, or unknown key): treated as invalid.")]
    public static partial void UndecryptableSession(ILogger logger, SessionKey session);

    [LoggerMessage(3006, LogLevel.Critical, "Session {Session} changed under a held refresh lease: the lease duration must outlive the provider call.")]
    public static partial void LeaseLost(ILogger logger, SessionKey session);

    [LoggerMessage(3007, LogLevel.Warning, "Session {Session}: the refresh lease could not be released (row changed or deleted).")]
    public static partial void LeaseReleaseFailed(ILogger logger, SessionKey session);

    [LoggerMessage(3008, LogLevel.Error, "Session {Session} (provider {Provider}) has failed to refresh {FailureCount} times in a row ({Error}): marked failing, refreshed on demand only.")]
    public static partial void SessionFailing(ILogger logger, SessionKey session, string provider, int failureCount, string error);

    [LoggerMessage(3009, LogLevel.Warning, "Session {Session}: refresh failed ({Error}); serving the stored access token, which is still valid.")]
    public static partial void ServingStoredToken(ILogger logger, SessionKey session, string error);

    [LoggerMessage(3010, LogLevel.Warning, "Session {Session}: storing the rotated refresh token failed (attempt {Attempt}, {Failure}); retrying under the lease.")]
    public static partial void RotatedTokenWriteRetried(ILogger logger, SessionKey session, int attempt, string failure);

    [LoggerMessage(3011, LogLevel.Critical, "Session {Session}: the rotated refresh token could not be stored before the lease ran out (after {Attempts} attempts, {ExceptionType}); the next refresh will send the spent token.")]
    public static partial void RotatedTokenLost(ILogger logger, SessionKey session, int attempts, string exceptionType);

    [LoggerMessage(3012, LogLevel.Warning, "Session {Session}: storage is not answering; the rotated refresh token is kept in memory and its write retried under the lease, callers are told to retry.")]
    public static partial void RotatedTokenWritePending(ILogger logger, SessionKey session);

    [LoggerMessage(3014, LogLevel.Warning, "Session {Session}: refresh not sent, {Dependency} did not answer ({Failure}); lease released.")]
    public static partial void RefreshBlockedByDependency(ILogger logger, SessionKey session, string dependency, string failure);

    [LoggerMessage(3013, LogLevel.Warning, "Session {Session}: the outcome of the refresh at provider {Provider} is unknown ({Error}); if the provider rotated the refresh token, the next attempt will be refused as reuse (reauth_required).")]
    public static partial void RefreshOutcomeUnknown(ILogger logger, SessionKey session, string provider, string error);

    [LoggerMessage(3040, LogLevel.Warning, "Session {Session}: provider {Provider} refused the scope or resource asked for ({Error}); the session and its refresh token are unchanged.")]
    public static partial void ScopeRefused(ILogger logger, SessionKey session, string provider, string error);

    [LoggerMessage(3041, LogLevel.Information, "Session {Session}: a scoped access token could not be decrypted (under a retired key?); fetching it again.")]
    public static partial void UndecryptableScopedToken(ILogger logger, SessionKey session);

    [LoggerMessage(3042, LogLevel.Information, "Session {Session}: a scope or resource outside what provider {Provider} allows was asked for; nothing sent.")]
    public static partial void ScopeNotAllowed(ILogger logger, SessionKey session, string provider);
}
