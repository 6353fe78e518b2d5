namespace FunctionsAuth.Tests.Infrastructure;

/// <summary>
/// Real time plus an offset the test moves forward. Unlike FakeTimeProvider its timers run on their own, which
/// end-to-end tests need (Kestrel, HttpClient and the OAuth server all wait in real time); "now" is the test's.
/// </summary>
public sealed class TestClock : TimeProvider
{
    private long offsetTicks;

    public TimeSpan Offset => TimeSpan.FromTicks(Interlocked.Read(ref offsetTicks));

    public override DateTimeOffset GetUtcNow() => TimeProvider.System.GetUtcNow() + Offset;

    public void Advance(TimeSpan by) => Interlocked.Add(ref offsetTicks, by.Ticks);
}
