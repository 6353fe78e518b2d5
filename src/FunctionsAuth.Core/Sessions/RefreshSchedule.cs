using FunctionsAuth.Configuration;
using FunctionsAuth.Storage;

namespace FunctionsAuth.Sessions;

/// <summary>
/// When the sweeper should next look at a session: the single rule shared by every writer of a row. A row's
/// <see cref="SessionEntity.DueAt"/> (its place in the due index) is the earlier of its next refresh and its purge.
/// </summary>
internal static class RefreshSchedule
{
    /// <summary>The next time the sweeper has something to do with <paramref name="session"/>: refresh it or purge it.</summary>
    public static DateTimeOffset DueAt(SessionEntity session, FunctionsAuthOptions options)
    {
        var purge = PurgeAt(session, options.Sweeper);
        return RefreshDueAt(session, options) is { } refresh && refresh < purge ? refresh : purge;
    }

    /// <summary>
    /// Active sessions (used within the activity window) are due <c>RefreshWindow</c> before their access token
    /// expires; every session is due when its refresh token has been idle for <c>IdleRefreshInterval</c>, so it does
    /// not lapse from disuse. A back-off after failures pushes the time out. Null: no refresh planned (not active).
    /// </summary>
    public static DateTimeOffset? RefreshDueAt(SessionEntity session, FunctionsAuthOptions options)
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

    /// <summary>
    /// When the row is deleted: past the absolute lifetime whatever its state; a session the user must sign in to again
    /// once the front end has had the retention period to read that state. (A revoked session is deleted at once.)
    /// </summary>
    public static DateTimeOffset PurgeAt(SessionEntity session, SweeperOptions options)
    {
        var end = session.CreatedAt + options.AbsoluteLifetime;
        if (session.Status == SessionStatus.ReauthRequired)
        {
            var retained = (session.StatusChangedAt ?? session.CreatedAt) + options.RetentionPeriod;
            return retained < end ? retained : end;
        }

        return end;
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
