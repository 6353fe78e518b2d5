using System.Threading.RateLimiting;

namespace FunctionsAuth.Sweeping;

/// <summary>
/// The sweeper's per-provider request rate: a token bucket per provider (capacity and refill both
/// <c>permitsPerSecond</c> per second) measured and waited on the injected <see cref="TimeProvider"/>.
/// System.Threading.RateLimiting's token bucket replenishes on its own timer and the system clock, which a test's
/// clock cannot move; this is the same rule on the one clock. Callers queue in arrival order: each reserves its permit
/// (the bucket may go into debt) and waits until the refill covers it; one that gives up hands its permit back.
/// </summary>
internal sealed class ProviderPacer(int permitsPerSecond, TimeProvider time) : PartitionedRateLimiter<string>
{
    private readonly Dictionary<string, Bucket> buckets = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lock gate = new();

    public override RateLimiterStatistics? GetStatistics(string resource)
    {
        lock (gate)
        {
            return new RateLimiterStatistics { CurrentAvailablePermits = (long)Math.Floor(Refill(resource).Tokens) };
        }
    }

    protected override RateLimitLease AttemptAcquireCore(string resource, int permitCount)
    {
        lock (gate)
        {
            var bucket = Refill(resource);
            if (bucket.Tokens < permitCount)
            {
                return Lease.Refused;
            }

            bucket.Tokens -= permitCount;
            return Lease.Granted;
        }
    }

    protected override async ValueTask<RateLimitLease> AcquireAsyncCore(string resource, int permitCount, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        TimeSpan wait;
        lock (gate)
        {
            var bucket = Refill(resource);
            bucket.Tokens -= permitCount;
            wait = bucket.Tokens >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-bucket.Tokens / permitsPerSecond);
        }

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
                    Refill(resource).Tokens += permitCount;
                }

                throw;
            }
        }

        return Lease.Granted;
    }

    private Bucket Refill(string resource)
    {
        var now = time.GetTimestamp();
        if (!buckets.TryGetValue(resource, out var bucket))
        {
            bucket = new Bucket { Tokens = permitsPerSecond, RefilledAt = now };
            buckets[resource] = bucket;
            return bucket;
        }

        var elapsed = time.GetElapsedTime(bucket.RefilledAt, now);
        bucket.Tokens = Math.Min(permitsPerSecond, bucket.Tokens + (elapsed.TotalSeconds * permitsPerSecond));
        bucket.RefilledAt = now;
        return bucket;
    }

    private sealed class Bucket
    {
        public double Tokens;
        public long RefilledAt;
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
