using System.Threading.RateLimiting;

namespace FunctionsAuth.Sweeping;

/// <summary>
/// The sweeper's per-provider request rate: at most <c>permits</c> grants per provider in any <c>window</c>, measured
/// and waited on the injected <see cref="TimeProvider"/>. Each caller reserves the earliest start that keeps every
/// window within the limit (now, or the grant <c>permits</c> places back plus one window) and waits for it, so callers
/// go in arrival order; one that gives up hands its slot back.
/// </summary>
/// <remarks>
/// Written here because System.Threading.RateLimiting's limiters replenish on their own timer and the system clock,
/// which a test's clock cannot move (the one-clock rule), and its token bucket lets a full bucket go just before a
/// refill and another just after: twice the limit within milliseconds. A strict window cannot.
/// </remarks>
internal sealed class ProviderPacer(int permits, TimeSpan window, TimeProvider time) : PartitionedRateLimiter<string>
{
    private readonly Dictionary<string, List<TimeSpan>> grants = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lock gate = new();
    private readonly long origin = time.GetTimestamp();

    public override RateLimiterStatistics? GetStatistics(string resource)
    {
        lock (gate)
        {
            return new RateLimiterStatistics { CurrentAvailablePermits = Math.Max(0, permits - Prune(resource, Now()).Count) };
        }
    }

    protected override RateLimitLease AttemptAcquireCore(string resource, int permitCount)
    {
        lock (gate)
        {
            var now = Now();
            var slots = Prune(resource, now);
            if (permitCount > permits || slots.Count + permitCount > permits || (slots.Count > 0 && slots[^1] > now))
            {
                return Lease.Refused;
            }

            for (var i = 0; i < permitCount; i++)
            {
                slots.Add(now);
            }

            return Lease.Granted;
        }
    }

    protected override async ValueTask<RateLimitLease> AcquireAsyncCore(string resource, int permitCount, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (permitCount > permits)
        {
            return Lease.Refused;
        }

        TimeSpan start;
        lock (gate)
        {
            var now = Now();
            var slots = Prune(resource, now);

            // The earliest start at which this grant and the `permits - 1` before it fit in one window.
            start = now;
            if (slots.Count + permitCount > permits)
            {
                var bound = slots[slots.Count + permitCount - permits - 1] + window;
                start = bound > start ? bound : start;
            }

            if (slots.Count > 0 && slots[^1] > start)
            {
                start = slots[^1];
            }

            for (var i = 0; i < permitCount; i++)
            {
                slots.Add(start);
            }
        }

        var wait = start - Now();
        if (wait > TimeSpan.Zero)
        {
            try
            {
                await Task.Delay(wait, time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                lock (gate)
                {
                    var slots = grants[resource];
                    for (var i = 0; i < permitCount; i++)
                    {
                        slots.RemoveAt(slots.LastIndexOf(start));
                    }
                }

                throw;
            }
        }

        return Lease.Granted;
    }

    private TimeSpan Now() => time.GetElapsedTime(origin);

    /// <summary>The grants of <paramref name="resource"/> that still count (started within the last window, or reserved ahead), in order.</summary>
    private List<TimeSpan> Prune(string resource, TimeSpan now)
    {
        if (!grants.TryGetValue(resource, out var slots))
        {
            slots = [];
            grants[resource] = slots;
        }

        var expired = 0;
        while (expired < slots.Count && slots[expired] + window <= now)
        {
            expired++;
        }

        slots.RemoveRange(0, expired);
        return slots;
    }

    private sealed class Lease(bool acquired) : RateLimitLease
    {
        public static readonly Lease Granted = new(true);
        public static readonly Lease Refused = new(false);

        public override bool IsAcquired => acquired;

        public override IEnumerable<string> MetadataNames => [];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = null;
            return false;
        }
    }
}
