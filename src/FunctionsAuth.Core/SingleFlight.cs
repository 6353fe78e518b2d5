using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace FunctionsAuth;

/// <summary>
/// At most one run of some work per key at a time: callers for a key whose run is in flight share its task. The entry
/// goes when the run completes, whatever its result, so a failure is never served to a later caller: the next call
/// starts a new run. Callers cannot cancel a run (others may be waiting for it); a caller stops waiting with
/// <see cref="Task{TResult}.WaitAsync(CancellationToken)"/>.
/// </summary>
/// <remarks>
/// The work runs on the starting caller's thread up to its first await; work that should not hold that caller yields
/// first. A caller never joins a run that has already finished: its result may predate the call.
/// </remarks>
internal sealed class SingleFlight<TKey, TValue>(IEqualityComparer<TKey>? comparer = null)
    where TKey : notnull
{
    // Lazy: of two callers racing to add a run, only the one whose entry lands ever starts the work.
    private readonly ConcurrentDictionary<TKey, Lazy<Task<TValue>>> _runs = new(comparer);

    public Task<TValue> RunAsync(TKey key, Func<TKey, Task<TValue>> work) =>
        RunAsync(key, work, static (key, work) => work(key));

    /// <summary>The state is passed rather than captured: with a static lambda, a caller that joins a run allocates nothing.</summary>
    public Task<TValue> RunAsync<TState>(TKey key, TState state, Func<TKey, TState, Task<TValue>> work)
    {
        while (true)
        {
            if (TryJoin(key, out var running))
            {
                return running;
            }

            Lazy<Task<TValue>>? run = null;
            run = new Lazy<Task<TValue>>(() => FlyAsync(key, state, work, run!), LazyThreadSafetyMode.ExecutionAndPublication);
            if (_runs.TryAdd(key, run))
            {
                return run.Value;
            }
        }
    }

    /// <summary>The run in flight for <paramref name="key"/>, if there is one; never adds one.</summary>
    public bool TryJoin(TKey key, [NotNullWhen(true)] out Task<TValue>? running)
    {
        // An entry whose work has not started yet is a run about to begin: starting it here is as good as waiting.
        if (_runs.TryGetValue(key, out var run) && (!run.IsValueCreated || !run.Value.IsCompleted))
        {
            running = run.Value;
            return true;
        }

        running = null;
        return false;
    }

    private async Task<TValue> FlyAsync<TState>(TKey key, TState state, Func<TKey, TState, Task<TValue>> work, Lazy<Task<TValue>> run)
    {
        try
        {
            return await work(key, state);
        }
        finally
        {
            // Before the task completes, so whoever sees it completed finds the entry gone.
            _runs.TryRemove(KeyValuePair.Create(key, run));
        }
    }
}
