using System.Collections.Concurrent;
using System.Threading.RateLimiting;
using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;
using Microsoft.Extensions.Logging;

namespace FunctionsAuth.Sweeping;

/// <summary>One run's mutable state, shared by its parallel workers.</summary>
internal sealed class SweepRun
{
    /// <summary>Exceptions kept for the run's report; beyond these they are counted and logged only.</summary>
    private const int MaxKeptExceptions = 32;

    private readonly ConcurrentDictionary<string, byte> refreshed = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<Exception> exceptions = new();
    private int examined;
    private int due;
    private int refreshedCount;
    private int skipped;
    private int failed;
    private int markedFailing;
    private int reauth;
    private int purged;
    private int reEncrypted;
    private int indexHealed;
    private int errors;

    public SweepRun(RefreshDemand demand, PartitionedRateLimiter<string> providerLimiter, SessionStore store, ILogger logger)
    {
        Demand = demand;
        ProviderLimiter = providerLimiter;
        Cleanup = new IndexCleanup(store, this, logger);
    }

    /// <summary>The sweeper's demand: a session is done once it is no longer due.</summary>
    public RefreshDemand Demand { get; }

    /// <summary>Per provider, for this run.</summary>
    public PartitionedRateLimiter<string> ProviderLimiter { get; }

    /// <summary>Index rows this run is done with, removed in batches.</summary>
    public IndexCleanup Cleanup { get; }

    /// <summary>Rows written from now on are under this key; rows under another are re-encrypted when the run passes them.</summary>
    public string CurrentKeyId { get; set; } = "";

    /// <summary>
    /// False when this run has already sent the session to the coordinator: a row moved into a bucket the scan has yet
    /// to reach (a token living shorter than the refresh window) is not refreshed twice in one run.
    /// </summary>
    public bool TryBeginRefresh(SessionKey key) => refreshed.TryAdd(key.Value, 0);

    public void Examined() => Interlocked.Increment(ref examined);

    public void Due() => Interlocked.Increment(ref due);

    public void Skipped() => Interlocked.Increment(ref skipped);

    public void Purged() => Interlocked.Increment(ref purged);

    public void ReEncrypted() => Interlocked.Increment(ref reEncrypted);

    public void IndexHealed() => Interlocked.Increment(ref indexHealed);

    public void Error(Exception exception)
    {
        if (Interlocked.Increment(ref errors) <= MaxKeptExceptions)
        {
            exceptions.Enqueue(exception);
        }
    }

    public void Record(RefreshOutcome outcome)
    {
        switch (outcome.Status)
        {
            case RefreshStatus.Refreshed:
                Interlocked.Increment(ref refreshedCount);
                break;
            case RefreshStatus.ReauthRequired:
                Interlocked.Increment(ref reauth);
                break;
            case RefreshStatus.Unavailable or RefreshStatus.RateLimited or RefreshStatus.ProviderError or RefreshStatus.TemporarilyUnavailable:
                Interlocked.Increment(ref failed);
                if (outcome.Session?.Status == SessionStatus.Failing)
                {
                    Interlocked.Increment(ref markedFailing);
                }

                break;
            default:
                // Current (someone else refreshed it, or it was no longer due), gone, or another instance still busy with it.
                Interlocked.Increment(ref skipped);
                break;
        }
    }

    public SweepSummary ToSummary(string result, TimeSpan duration) => new(
        result,
        duration,
        Volatile.Read(ref examined),
        Volatile.Read(ref due),
        Volatile.Read(ref refreshedCount),
        Volatile.Read(ref skipped),
        Volatile.Read(ref failed),
        Volatile.Read(ref markedFailing),
        Volatile.Read(ref reauth),
        Volatile.Read(ref purged),
        Volatile.Read(ref reEncrypted),
        Volatile.Read(ref indexHealed),
        Volatile.Read(ref errors),
        [.. exceptions]);
}
