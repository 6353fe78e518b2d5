using FunctionsAuth.Storage;
using Microsoft.Extensions.Logging;

namespace FunctionsAuth.Sweeping;

/// <summary>
/// Due-index rows a run is done with (moved on by a refresh, purged, or found stale), deleted in batches per bucket
/// partition instead of one request each. Every delete is conditional on the ETag the scan read, so a row a writer
/// has rewritten since stays. The session rows have already moved when a row gets here: a row left behind (a crash,
/// a lost race) is stale at worst, and a later run drops it.
/// </summary>
internal sealed class IndexCleanup(SessionStore store, SweepRun run, ILogger logger)
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, List<Pending>> pending = new(StringComparer.Ordinal);

    /// <summary>Queues <paramref name="entry"/>; sends its bucket's batch once it is full.</summary>
    /// <param name="stale">The row no longer matched its session when read (counted and logged as healed once removed).</param>
    public Task RemoveAsync(DueIndexEntry entry, bool stale)
    {
        List<Pending>? full = null;
        lock (gate)
        {
            if (!pending.TryGetValue(entry.Bucket, out var rows))
            {
                pending[entry.Bucket] = rows = new List<Pending>(SessionStore.MaxBatchSize);
            }

            rows.Add(new Pending(entry, stale));
            if (rows.Count == SessionStore.MaxBatchSize)
            {
                full = rows;
                pending.Remove(entry.Bucket);
            }
        }

        return full is null ? Task.CompletedTask : SendAsync(full);
    }

    /// <summary>Sends what is queued. Not cancellable: the batches are short, and the run ends with them.</summary>
    public async Task FlushAsync()
    {
        List<List<Pending>> batches;
        lock (gate)
        {
            batches = [.. pending.Values];
            pending.Clear();
        }

        foreach (var batch in batches)
        {
            await SendAsync(batch);
        }
    }

    private async Task SendAsync(List<Pending> batch)
    {
        var removed = await store.RemoveIndexRowsAsync(batch.ConvertAll(p => p.Entry), CancellationToken.None);
        var stale = batch.Where(p => p.Stale).Select(p => p.Entry).ToHashSet();
        foreach (var entry in removed)
        {
            if (stale.Contains(entry))
            {
                run.IndexHealed();
                Log.IndexRowHealed(logger, entry.Key, entry.Bucket);
            }
        }
    }

    private readonly record struct Pending(DueIndexEntry Entry, bool Stale);
}
