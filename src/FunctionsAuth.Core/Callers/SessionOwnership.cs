using FunctionsAuth.Storage;

namespace FunctionsAuth.Callers;

internal enum Ownership
{
    /// <summary>The caller created the session.</summary>
    Owner,

    /// <summary>Another caller created it, or it has no owner and the policy refuses those: answered as an unknown session.</summary>
    Foreign,

    /// <summary>No owner recorded (created before sessions were bound) and the policy lets the caller adopt it.</summary>
    Unowned,
}

/// <summary>Who may use a session addressed by its handle. A pure rule, so every endpoint that takes a handle asks the same question.</summary>
internal static class SessionOwnership
{
    public static Ownership Decide(SessionEntity session, CallerId caller, UnownedSessionPolicy policy) => session.Owner switch
    {
        null => policy == UnownedSessionPolicy.Adopt ? Ownership.Unowned : Ownership.Foreign,
        var owner when string.Equals(owner, caller.Value, StringComparison.Ordinal) => Ownership.Owner,
        _ => Ownership.Foreign,
    };
}
