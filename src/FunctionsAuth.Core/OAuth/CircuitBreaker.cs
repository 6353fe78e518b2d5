using System.Collections.Concurrent;

namespace FunctionsAuth.OAuth;

/// <summary>
/// Per provider: after <see cref="FailureThreshold"/> consecutive "unavailable" answers, stop calling it for
/// <see cref="BreakDuration"/> so a provider outage is not hammered by every request and sweep.
/// </summary>
internal sealed class CircuitBreaker(TimeProvider time)
{
    public const int FailureThreshold = 5;
    public static readonly TimeSpan BreakDuration = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, State> states = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>How long the circuit stays open for this provider; null when calls may go through.</summary>
    public TimeSpan? OpenFor(string provider)
    {
        if (!states.TryGetValue(provider, out var state))
        {
            return null;
        }

        var remaining = state.OpenUntil - time.GetUtcNow();
        return remaining > TimeSpan.Zero ? remaining : null;
    }

    public void RecordSuccess(string provider) => states.TryRemove(provider, out _);

    public void RecordFailure(string provider)
    {
        var now = time.GetUtcNow();
        states.AddOrUpdate(
            provider,
            static (_, _) => new State(1, DateTimeOffset.MinValue),
            static (_, current, now) =>
            {
                // Half-open: the first call after a break that fails opens the circuit again at once.
                var failures = current.OpenUntil != DateTimeOffset.MinValue ? FailureThreshold : current.Failures + 1;
                return failures >= FailureThreshold ? new State(failures, now + BreakDuration) : current with { Failures = failures };
            },
            now);
    }

    private sealed record State(int Failures, DateTimeOffset OpenUntil);
}
