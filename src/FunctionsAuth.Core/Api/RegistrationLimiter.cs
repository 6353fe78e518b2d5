using System.Threading.RateLimiting;
using FunctionsAuth.Configuration;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Api;

/// <summary>
/// Counts refused registrations per caller (keyed by its <see cref="Callers.CallerId"/>; a fixed window of <c>FunctionsAuth:Registration:FailureLimit</c> per
/// <c>FailureWindow</c>); once a caller has spent its budget, its registrations answer <c>429</c> before any provider
/// call. Only failures spend the budget, so a caller that registers real sessions is never limited by its successes.
/// Per instance, like the circuit breaker: N instances allow up to N times the limit.
/// </summary>
internal sealed class RegistrationLimiter(IOptions<FunctionsAuthOptions> options) : IDisposable
{
    private readonly PartitionedRateLimiter<string> failures = PartitionedRateLimiter.Create<string, string>(caller =>
        RateLimitPartition.GetFixedWindowLimiter(caller, _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = options.Value.Registration.FailureLimit,
            Window = options.Value.Registration.FailureWindow,
            QueueLimit = 0,
            AutoReplenishment = true,
        }));

    /// <summary>Whether <paramref name="caller"/> has refused registrations left; otherwise, when to come back.</summary>
    public bool IsLimited(string caller, out TimeSpan retryAfter)
    {
        // Zero permits asks "any left?" without taking one.
        using var lease = failures.AttemptAcquire(caller, 0);
        retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var delay) && delay > TimeSpan.Zero ? delay : options.Value.Registration.FailureWindow;
        return !lease.IsAcquired;
    }

    public void RecordFailure(string caller)
    {
        using var lease = failures.AttemptAcquire(caller, 1);
    }

    public void Dispose() => failures.Dispose();
}
