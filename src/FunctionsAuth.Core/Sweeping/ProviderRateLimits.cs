using System.Threading.RateLimiting;
using FunctionsAuth.Configuration;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Sweeping;

/// <summary>
/// The sweeper's per-provider rate limits. The limit is global (<see cref="SweeperOptions.ProviderRequestsPerSecond"/>
/// over any one-second window, all instances together) without any coordination at run time: a queue worker instance
/// takes a fixed share, the limit divided by the most instances that can run at once (Flex Consumption's
/// <c>maximumInstanceCount</c>, <see cref="SweeperOptions.MaxInstances"/>), so N shares add up to the limit whatever
/// N instances do. An in-process run takes the whole limit: the planner runs one in process only while no work item
/// is queued (so no worker is busy), and the Functions host runs the timer on one instance at a time.
/// A shared token bucket in storage would let a lone worker use the whole limit, at a storage round trip (and contention
/// on one row) per few permits; a fixed share costs nothing and cannot be wrong, and the planner makes enough work items
/// that every instance the platform adds has some (see docs/SWEEPER.md).
/// </summary>
internal sealed class ProviderRateLimits : IDisposable
{
    /// <summary>
    /// Slack for what happens between a permit and the request reaching the provider (the lease claim's storage write,
    /// scheduling, the network): a permit counts for one second plus this.
    /// </summary>
    internal static readonly TimeSpan Margin = TimeSpan.FromMilliseconds(250);

    public ProviderRateLimits(IOptions<FunctionsAuthOptions> options, TimeProvider time)
    {
        var sweeper = options.Value.Sweeper;
        WorkerShare = sweeper.ProviderRequestsPerSecond / sweeper.MaxInstances;
        Worker = Create(WorkerShare, time);
    }

    /// <summary>Permits per second per provider for all queue workers of this instance together.</summary>
    public int WorkerShare { get; }

    /// <summary>Shared by every work item this instance runs, concurrently or not.</summary>
    public PartitionedRateLimiter<string> Worker { get; }

    /// <summary>
    /// At most <paramref name="permitsPerSecond"/> per provider in any one-second window plus <see cref="Margin"/>,
    /// on <paramref name="time"/> (<see cref="ProviderPacer"/>). A token bucket refilled once a second (what this
    /// replaced) lets a full bucket go just before a refill and another just after: twice the limit within milliseconds.
    /// </summary>
    public static PartitionedRateLimiter<string> Create(int permitsPerSecond, TimeProvider time) =>
        new ProviderPacer(permitsPerSecond, TimeSpan.FromSeconds(1) + Margin, time);

    public void Dispose() => Worker.Dispose();
}
