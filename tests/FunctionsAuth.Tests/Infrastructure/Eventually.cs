namespace FunctionsAuth.Tests.Infrastructure;

/// <summary>Waits for work a host does in the background (queue listeners, sweeps) without timing it: the deadline only stops a hung test.</summary>
public static class Eventually
{
    public static readonly TimeSpan DefaultDeadline = TimeSpan.FromSeconds(60);

    public static Task TrueAsync(Func<bool> condition, string what, TimeSpan? deadline = null) =>
        TrueAsync(() => Task.FromResult(condition()), what, deadline);

    public static async Task TrueAsync(Func<Task<bool>> condition, string what, TimeSpan? deadline = null)
    {
        var until = DateTime.UtcNow + (deadline ?? DefaultDeadline);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < until, $"Still not true after {(deadline ?? DefaultDeadline).TotalSeconds:0} s: {what}.");
            await Task.Delay(50);
        }
    }
}
