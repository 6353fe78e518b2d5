namespace FunctionsAuth.Tests;

public sealed class SingleFlightTests
{
    private readonly SingleFlight<string, int> _flight = new(StringComparer.Ordinal);
    private int _runs;

    [Fact]
    public async Task RunAsync_ConcurrentCallers_ShareOneRun()
    {
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var callers = new Task<int>[64];

        Parallel.For(0, callers.Length, i => callers[i] = _flight.RunAsync("session", gate, Counted));
        gate.SetResult(42);

        Assert.Equal(Enumerable.Repeat(42, callers.Length), await Task.WhenAll(callers));
        Assert.Equal(1, _runs);
    }

    [Fact]
    public async Task RunAsync_AfterARunCompletes_StartsANewRun()
    {
        var first = await _flight.RunAsync("session", _ => Task.FromResult(Interlocked.Increment(ref _runs)));
        var second = await _flight.RunAsync("session", _ => Task.FromResult(Interlocked.Increment(ref _runs)));

        Assert.Equal(1, first);
        Assert.Equal(2, second);
    }

    [Fact]
    public async Task RunAsync_RunStillInFlight_IsJoinedUntilItCompletes()
    {
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = _flight.RunAsync("session", gate, Counted);
        var joined = _flight.RunAsync("session", gate, Counted);
        gate.SetResult(1);
        await first;

        var afterwards = _flight.RunAsync("session", Task.FromResult(2), static (_, result) => result);

        Assert.Same(first, joined);
        Assert.Equal(2, await afterwards);
        Assert.Equal(1, _runs);
    }

    [Fact]
    public async Task RunAsync_FaultedRun_IsNotServedToTheNextCaller()
    {
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var failing = _flight.RunAsync("session", gate, Counted);
        gate.SetException(new InvalidOperationException("storage down"));
        await Assert.ThrowsAsync<InvalidOperationException>(() => failing);

        var next = await _flight.RunAsync("session", Task.FromResult(7), Counted);

        Assert.Equal(7, next);
        Assert.Equal(2, _runs);
    }

    [Fact]
    public async Task RunAsync_WorkThrowingBeforeItsFirstAwait_FaultsTheTaskAndIsNotCached()
    {
        var failing = _flight.RunAsync("session", static _ => throw new InvalidOperationException("bad configuration"));
        await Assert.ThrowsAsync<InvalidOperationException>(() => failing);

        Assert.Equal(3, await _flight.RunAsync("session", static _ => Task.FromResult(3)));
    }

    [Fact]
    public async Task RunAsync_CallerGivesUp_RunGoesOnForTheOthers()
    {
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var giveUp = new CancellationTokenSource();
        var impatient = _flight.RunAsync("session", gate, Counted).WaitAsync(giveUp.Token);
        var patient = _flight.RunAsync("session", gate, Counted);

        await giveUp.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => impatient);
        Assert.False(patient.IsCompleted);
        Assert.True(_flight.TryJoin("session", out var running));
        gate.SetResult(5);

        Assert.Equal(5, await patient);
        Assert.Same(patient, running);
        Assert.Equal(1, _runs);
    }

    [Fact]
    public async Task RunAsync_DifferentKeys_RunSeparately()
    {
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var one = _flight.RunAsync("session-1", gate, Counted);
        var other = _flight.RunAsync("session-2", gate, Counted);
        gate.SetResult(1);
        await Task.WhenAll(one, other);

        Assert.NotSame(one, other);
        Assert.Equal(2, _runs);
    }

    [Fact]
    public async Task RunAsync_KeysEqualUnderTheComparer_ShareOneRun()
    {
        var flight = new SingleFlight<string, int>(StringComparer.OrdinalIgnoreCase);
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var lower = flight.RunAsync("google", gate, Counted);
        var upper = flight.RunAsync("Google", gate, Counted);
        gate.SetResult(1);
        await lower;

        Assert.Same(lower, upper);
        Assert.Equal(1, _runs);
    }

    [Fact]
    public async Task TryJoin_NothingInFlight_ReturnsFalse()
    {
        Assert.False(_flight.TryJoin("session", out _));
        await _flight.RunAsync("session", Task.FromResult(1), Counted);

        Assert.False(_flight.TryJoin("session", out var running));
        Assert.Null(running);
    }

    private Task<int> Counted(string key, TaskCompletionSource<int> gate) => Counted(key, gate.Task);

    private Task<int> Counted(string key, Task<int> result)
    {
        Interlocked.Increment(ref _runs);
        return result;
    }
}
