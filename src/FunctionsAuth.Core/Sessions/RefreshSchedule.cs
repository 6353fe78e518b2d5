using FunctionsAuth.Configuration;
using FunctionsAuth.Storage;

namespace FunctionsAuth.Sessions;

/// <summary>When a session should next be refreshed by the sweeper: the single rule shared by every writer of a row.</summary>
internal static class RefreshSchedule
{
    /// <summary>
    /// Active sessions (used within the activity window) are due <c>RefreshWindow</c> before their access token
    /// expires; every session is due when its refresh token has been idle for <c>IdleRefreshInterval</c>, so it does
    /// not lapse from disuse. A back-off after failures pushes the time out. Null: never (not active).
    /// </summary>
    public static DateTimeOffset? DueAt(SessionEntity session, FunctionsAuthOptions options)
    {
        if (session.Status != SessionStatus.Active || session.RefreshToken is null)
        {
            return null;
        }

        var keepAlive = (session.LastRefreshedAt ?? session.CreatedAt) + options.Sweeper.IdleRefreshInterval;
        var due = keepAlive;
        var proactive = (session.AccessTokenExpiresAt ?? session.CreatedAt) - options.RefreshWindow;
        if (proactive <= session.LastUsedAt + options.Sweeper.ActivityWindow && proactive < due)
        {
            due = proactive;
        }

        return session.NextAttemptAt is { } next && next > due ? next : due;
    }

    /// <summary>Exponential back-off with full jitter between half and all of the step, capped.</summary>
    public static TimeSpan Backoff(int failureCount, SweeperOptions options)
    {
        var step = options.InitialBackoff * Math.Pow(2, Math.Clamp(failureCount - 1, 0, 20));
        if (step > options.MaxBackoff)
        {
            step = options.MaxBackoff;
        }

        return step * (0.5 + (Random.Shared.NextDouble() / 2));
    }
}
