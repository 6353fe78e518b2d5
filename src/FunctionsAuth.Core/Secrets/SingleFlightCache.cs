using System.Collections.Concurrent;

namespace FunctionsAuth.Secrets;

/// <summary>
/// Keeps one value per key for <c>duration</c>. Concurrent misses for a key share one load; a failed load is dropped,
/// so the next caller tries again instead of being served the failure.
/// </summary>
internal sealed class SingleFlightCache<T>(Func<string, Task<T>> load, TimeSpan duration, TimeProvider timeProvider)
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    public ValueTask<T> GetAsync(string key, bool refresh, CancellationToken cancellationToken)
    {
        if (!refresh && _entries.TryGetValue(key, out var cached) && cached.TryGetFresh(timeProvider.GetUtcNow(), out var value))
        {
            return new ValueTask<T>(value);
        }

        // The load itself is not cancelled with this caller's token: other callers may be waiting for it too.
        var loading = GetOrStartLoad(key, refresh);
        return new ValueTask<T>(loading.IsCompleted ? loading : loading.WaitAsync(cancellationToken));
    }

    private Task<T> GetOrStartLoad(string key, bool refresh)
    {
        while (true)
        {
            if (_entries.TryGetValue(key, out var existing))
            {
                // A load still running is as fresh as a new one would be, so a refresh joins it too.
                if (existing.IsLoading || (!refresh && existing.TryGetFresh(timeProvider.GetUtcNow(), out _)))
                {
                    return existing.Task;
                }

                var replacement = new Entry(this, key);
                if (_entries.TryUpdate(key, replacement, existing))
                {
                    return replacement.Task;
                }
            }
            else
            {
                var created = new Entry(this, key);
                if (_entries.TryAdd(key, created))
                {
                    return created.Task;
                }
            }
        }
    }

    private async Task<T> LoadAsync(Entry entry, string key)
    {
        try
        {
            var value = await load(key);
            var now = timeProvider.GetUtcNow();
            entry.ExpiresAtTicks = duration >= DateTimeOffset.MaxValue - now ? long.MaxValue : (now + duration).UtcTicks;
            return value;
        }
        catch
        {
            _entries.TryRemove(KeyValuePair.Create(key, entry));
            throw;
        }
    }

    private sealed class Entry
    {
        // Lazy: only the entry that wins the race into the dictionary ever starts a load.
        private readonly Lazy<Task<T>> _load;

        public Entry(SingleFlightCache<T> cache, string key) =>
            _load = new Lazy<Task<T>>(() => cache.LoadAsync(this, key), LazyThreadSafetyMode.ExecutionAndPublication);

        /// <summary>Written before the load's task completes, so whoever sees the task completed sees it too.</summary>
        public long ExpiresAtTicks { get; set; }

        public Task<T> Task => _load.Value;

        public bool IsLoading => !_load.Value.IsCompleted;

        public bool TryGetFresh(DateTimeOffset now, out T value)
        {
            var task = _load.Value;
            if (task.IsCompletedSuccessfully && now.UtcTicks < ExpiresAtTicks)
            {
                value = task.Result;
                return true;
            }

            value = default!;
            return false;
        }
    }
}
