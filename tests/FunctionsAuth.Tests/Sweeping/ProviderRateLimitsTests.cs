using System.Collections.Concurrent;
using System.Diagnostics;
using FunctionsAuth.Configuration;
using FunctionsAuth.Sweeping;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Tests.Sweeping;

/// <summary>The sweeper's provider rate limit: a bound over any one-second window, and the per-instance share of it.</summary>
public sealed class ProviderRateLimitsTests
{
    [Fact]
    public async Task Limiter_TakenAsFastAsItGives_NeverMoreThanTheLimitInAnyOneSecond()
    {
        const int Limit = 20;
        using var limiter = ProviderRateLimits.Create(Limit, TimeProvider.System);
        var granted = new ConcurrentQueue<long>();

        // Many callers at once for a little over three windows: a token bucket refilled once a second gives twice the
        // limit around each refill; this must not.
        var until = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 35 / 10;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            while (Stopwatch.GetTimestamp() < until)
            {
                using var permit = await limiter.AcquireAsync("demo", 1);
                Assert.True(permit.IsAcquired);
                granted.Enqueue(Stopwatch.GetTimestamp());
            }
        }));

        var times = granted.Order().ToArray();
        var busiest = 0;
        for (int start = 0, end = 0; end < times.Length; end++)
        {
            while (Stopwatch.GetElapsedTime(times[start], times[end]) >= TimeSpan.FromSeconds(1))
            {
                start++;
            }

            busiest = Math.Max(busiest, end - start + 1);
        }

        Assert.Equal(Limit, busiest);
    }

    [Fact]
    public async Task Limiter_IsPerProvider()
    {
        using var limiter = ProviderRateLimits.Create(1, TimeProvider.System);

        using var first = await limiter.AcquireAsync("google", 1);
        using var other = limiter.AttemptAcquire("entra", 1);
        using var second = limiter.AttemptAcquire("google", 1);

        Assert.True(first.IsAcquired);
        Assert.True(other.IsAcquired);
        Assert.False(second.IsAcquired);
    }

    [Theory]
    [InlineData(50, 1, 50)]
    [InlineData(50, 40, 1)]
    [InlineData(150, 3, 50)]
    [InlineData(100, 3, 33)]
    public void WorkerShare_IsTheLimitDividedByTheMostInstances_RoundedDown(int limit, int instances, int share)
    {
        var options = Options.Create(new FunctionsAuthOptions { Sweeper = { ProviderRequestsPerSecond = limit, MaxInstances = instances } });
        using var limits = new ProviderRateLimits(options, TimeProvider.System);

        Assert.Equal(share, limits.WorkerShare);
        Assert.InRange(limits.WorkerShare * instances, 1, limit);
    }
}
