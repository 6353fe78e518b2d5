using System.Diagnostics;
using Microsoft.Extensions.Time.Testing;

namespace FunctionsAuth.Tests.Infrastructure;

/// <summary>
/// A fake clock for end-to-end tests that move time by hand but also run real I/O: "now", timestamps and timers are a
/// <see cref="FakeTimeProvider"/>'s, so the test jumps minutes or days with <see cref="Advance"/>; and while anything
/// waits on it (a timer is armed: a back-off, a lease poll, a provider time-out, the sweeper's budget), it runs on at the
/// speed of real time, so that wait ends as it would in production instead of hanging until the test moves the clock.
/// With nothing waiting it stands still, so a test's arithmetic on due times holds exactly between its steps.
/// </summary>
/// <remarks>
/// A plain <see cref="FakeTimeProvider"/> would hang any code that awaits a delay on it while the test awaits that
/// code; <see cref="TestClock"/> (real time plus an offset) drifts even when nothing waits.
/// </remarks>
public sealed class DrivenClock : TimeProvider, IDisposable
{
    private static readonly TimeSpan PumpInterval = TimeSpan.FromMilliseconds(5);

    /// <summary>A late pump (a busy machine) moves the clock by at most this much at once, never in one big jump.</summary>
    private static readonly TimeSpan MaxStep = TimeSpan.FromMilliseconds(50);

    private readonly FakeTimeProvider fake;
    private readonly Timer pump;
    private readonly Lock gate = new();
    private long lastPump = Stopwatch.GetTimestamp();
    private int armed;

    public DrivenClock(DateTimeOffset start)
    {
        fake = new FakeTimeProvider(start);
        pump = new Timer(_ => Pump(), null, PumpInterval, PumpInterval);
    }

    /// <summary>Timers armed right now (for a test that wants to see that something waits).</summary>
    public int ArmedTimers => Volatile.Read(ref armed);

    public override DateTimeOffset GetUtcNow() => fake.GetUtcNow();

    public override long GetTimestamp() => fake.GetTimestamp();

    public override long TimestampFrequency => fake.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => fake.LocalTimeZone;

    /// <summary>Jumps the clock; every timer due by then fires, in order.</summary>
    public void Advance(TimeSpan by) => fake.Advance(by);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        new TrackedTimer(this, callback, state, dueTime, period);

    public void Dispose() => pump.Dispose();

    private void Pump()
    {
        TimeSpan step;
        lock (gate)
        {
            var now = Stopwatch.GetTimestamp();
            step = Stopwatch.GetElapsedTime(lastPump, now);
            lastPump = now;
        }

        if (Volatile.Read(ref armed) > 0 && step > TimeSpan.Zero)
        {
            fake.Advance(step > MaxStep ? MaxStep : step);
        }
    }

    private void Arm(ref bool isArmed, bool arm)
    {
        if (isArmed == arm)
        {
            return;
        }

        isArmed = arm;
        Interlocked.Add(ref armed, arm ? 1 : -1);
    }

    /// <summary>A fake timer that tells the clock whether it is armed (a one-shot timer disarms when it fires).</summary>
    private sealed class TrackedTimer : ITimer
    {
        private readonly DrivenClock clock;
        private readonly TimerCallback callback;
        private readonly ITimer inner;
        private readonly Lock gate = new();
        private bool isArmed;
        private bool periodic;

        public TrackedTimer(DrivenClock clock, TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            this.clock = clock;
            this.callback = callback;
            lock (gate)
            {
                Track(dueTime, period);
            }

            inner = clock.fake.CreateTimer(Fire, state, dueTime, period);
        }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (gate)
            {
                Track(dueTime, period);
            }

            return inner.Change(dueTime, period);
        }

        public void Dispose()
        {
            lock (gate)
            {
                clock.Arm(ref isArmed, false);
            }

            inner.Dispose();
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }

        private void Track(TimeSpan dueTime, TimeSpan period)
        {
            periodic = period != Timeout.InfiniteTimeSpan && period != TimeSpan.Zero;
            clock.Arm(ref isArmed, dueTime != Timeout.InfiniteTimeSpan);
        }

        private void Fire(object? state)
        {
            lock (gate)
            {
                if (!periodic)
                {
                    clock.Arm(ref isArmed, false);
                }
            }

            callback(state);
        }
    }
}
