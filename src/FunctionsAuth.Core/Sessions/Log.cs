using Microsoft.Extensions.Logging;

namespace FunctionsAuth.Sessions;

internal static partial class Log
{
    [LoggerMessage(3000, LogLevel.Information, "Session {Session} created for provider {Provider}.")]
    public static partial void SessionCreated(ILogger logger, SessionKey session, string provider);

    [LoggerMessage(3001, LogLevel.Information, "Session {Session} revoked (provider {Provider}).")]
    public static partial void SessionRevoked(ILogger logger, SessionKey session, string provider);

    [LoggerMessage(3002, LogLevel.Debug, "Refresh lease on session {Session} taken.")]
    public static partial void LeaseTaken(ILogger logger, SessionKey session);

    [LoggerMessage(3003, LogLevel.Information, "Session {Session} refreshed at provider {Provider} (rotated refresh token: {Rotated}).")]
    public static partial void Refreshed(ILogger logger, SessionKey session, string provider, bool rotated);

    [LoggerMessage(3004, LogLevel.Warning, "Provider {Provider} refused the refresh token of session {Session} (invalid_grant): sign-in required.")]
    public static partial void ReauthRequired(ILogger logger, SessionKey session, string provider);

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

    [LoggerMessage(3010, LogLevel.Warning, "Session {Session}: storing the rotated refresh token failed (attempt {Attempt}, status {Status}); retrying under the lease.")]
    public static partial void RotatedTokenWriteRetried(ILogger logger, SessionKey session, int attempt, int status);
}
