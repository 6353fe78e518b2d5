using System.Collections.Concurrent;

namespace FunctionsAuth.Secrets;

/// <summary>
/// Keeps one value per key for <c>duration</c>. Concurrent misses for a key share one load; a failed load is dropped,
/// so the next caller tries again instead of being served the failure.
/// </summary>
/// <remarks>
/// Why not <c>HybridCache</c> (Microsoft.Extensions.Caching.Hybrid 10.11.0, evaluated for issue 9)? It has the stampede
/// protection and the expiry, but three of its properties do not fit what is cached here (client secrets; the
/// discovery cache in <c>ProviderRegistry</c> follows the same reasoning):
/// <list type="bullet">
/// <item>It writes every entry to any <c>IDistributedCache</c> registered in the container (a Functions app may add
/// Redis for something else) unless every call opts out: a client secret must never leave the process.</item>
/// <item>Its in-memory level expires entries on <c>MemoryCache</c>'s own clock (<c>MemoryCacheOptions.Clock</c>, the
/// system clock), not on the injected <see cref="TimeProvider"/>: tests could not drive the expiry, and Core would have
/// two clocks again.</item>
/// <item>Rotation needs "drop this value and make everyone who arrives meanwhile wait for its replacement, never be
/// served it" (the <c>refresh</c> path after <c>invalid_client</c>), and a caller giving up must never cancel a load
/// others wait for; HybridCache cancels the shared load once all its current callers have cancelled.</item>
/// </list>
/// So the cache stays this small wrapper over <see cref="SingleFlight{TKey, TValue}"/>, whose semantics its tests pin.
/// </remarks>
internal sealed class SingleFlightCache<T>(Func<string, Task<T>> load, TimeSpan duration, TimeProvider timeProvider)
{
    private readonly ConcurrentDictionary<string, Cached> _values = new(StringComparer.Ordinal);
    private readonly SingleFlight<string, T> _loads = new(StringComparer.Ordinal);

    public ValueTask<T> GetAsync(string key, bool refresh, CancellationToken cancellationToken)
    {
        if (!refresh && _values.TryGetValue(key, out var cached) && timeProvider.GetUtcNow().UtcTicks < cached.ExpiresAtTicks)
        {
            return new ValueTask<T>(cached.Value);
        }

        if (refresh)
        {
            // Callers that arrive while the refresh runs wait for its value, and if it fails they load again, rather than
            // being served the value it was to replace.
            _values.TryRemove(key, out _);
        }

        // A load still running is as fresh as a new one would be, so a refresh joins it too. The load itself is not
        // cancelled with this caller's token: other callers may be waiting for it too.
        var loading = _loads.RunAsync(key, this, static (key, self) => self.LoadAsync(key));
        return new ValueTask<T>(loading.IsCompleted ? loading : loading.WaitAsync(cancellationToken));
    }

    private async Task<T> LoadAsync(string key)
    {
        var value = await load(key);
        var now = timeProvider.GetUtcNow();
        // Stored before the load's task completes, so whoever sees it completed finds the value cached.
        _values[key] = new Cached(value, duration >= DateTimeOffset.MaxValue - now ? long.MaxValue : (now + duration).UtcTicks);
        return value;
    }

    private sealed record Cached(T Value, long ExpiresAtTicks);
}
