using FunctionsAuth.Sweeping;
using Microsoft.Extensions.Time.Testing;

namespace FunctionsAuth.Tests.Sweeping;

/// <summary>The sweeper's per-provider rate on the injected clock: the test moves time, nothing waits for real.</summary>
public sealed class ProviderPacerTests
{
    private readonly FakeTimeProvider time = new(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));

    [Fact]
    public async Task ABurstUpToTheLimit_ThenTheNextOnlyOnceTheFirstHasCountedForAWindow()
    {
        using var pacer = new ProviderPacer(2, TimeSpan.FromSeconds(1), time);

        using var first = await pacer.AcquireAsync("p", 1);
        time.Advance(TimeSpan.FromMilliseconds(400));
        using var second = await pacer.AcquireAsync("p", 1);
        var third = pacer.AcquireAsync("p", 1).AsTask();
        var fourth = pacer.AcquireAsync("p", 1).AsTask();

        // Third: one window after the first (t = 1000 ms); fourth: one window after the second (t = 1400 ms).
        time.Advance(TimeSpan.FromMilliseconds(599));
        Assert.False(third.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True((await third.WaitAsync(TimeSpan.FromSeconds(5))).IsAcquired);
        time.Advance(TimeSpan.FromMilliseconds(399));
        Assert.False(fourth.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True((await fourth.WaitAsync(TimeSpan.FromSeconds(5))).IsAcquired);
    }

    [Fact]
    public async Task ProvidersArePacedApart_AndAWaiterThatGivesUpHandsItsPermitBack()
    {
        using var pacer = new ProviderPacer(1, TimeSpan.FromSeconds(1), time);
        using var a = await pacer.AcquireAsync("a", 1);
        using var b = await pacer.AcquireAsync("b", 1);
        Assert.False(pacer.AttemptAcquire("a", 1).IsAcquired);

        using var cancel = new CancellationTokenSource();
        var waiting = pacer.AcquireAsync("a", 1, cancel.Token).AsTask();
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(pacer.AttemptAcquire("a", 1).IsAcquired);
    }
}
