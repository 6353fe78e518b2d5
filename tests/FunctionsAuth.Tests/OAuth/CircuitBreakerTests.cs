using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Headers;
using FunctionsAuth.Diagnostics;
using FunctionsAuth.OAuth;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace FunctionsAuth.Tests.OAuth;

/// <summary>The per-provider circuit (Polly), driven by a fake clock: no test waits for a break to end.</summary>
public sealed class CircuitBreakerTests : IDisposable
{
    private readonly FakeTimeProvider time = new(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly FakeLogger<CircuitBreaker> logger = new();
    private readonly ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly MetricCollector<long> transitions;
    private readonly CircuitBreaker circuits;
    private int attempts;

    public CircuitBreakerTests()
    {
        var meterFactory = services.GetRequiredService<IMeterFactory>();
        circuits = new CircuitBreaker(time, new FunctionsAuthMetrics(meterFactory), logger);
        transitions = new MetricCollector<long>(meterFactory, FunctionsAuthMetrics.MeterName, "functionsauth.provider.circuit.transitions");
    }

    public void Dispose()
    {
        transitions.Dispose();
        services.Dispose();
    }

    [Theory]
    [InlineData("OutcomeUnknown", "timeout")]
    [InlineData("OutcomeUnknown", "connection_dropped")]
    [InlineData("Unavailable", "connection_failed")]
    [InlineData("Unavailable", "server_error")]
    public async Task RepeatedFailuresOfAnyKind_OpenTheCircuit_NoFurtherCallsUntilTheBreakEnds(string kind, string error)
    {
        await FailAsync(CircuitBreaker.MinimumThroughput, TokenResult.Failed(Enum.Parse<TokenFailureKind>(kind), error));

        var rejected = await CallAsync(Success);

        Assert.Equal(TokenErrors.CircuitOpen, rejected.Error);
        Assert.Equal(CircuitBreaker.BreakDuration, rejected.RetryAfter);
        Assert.Equal(CircuitBreaker.MinimumThroughput, attempts);
        Assert.Contains(logger.Collector.GetSnapshot(), r => r.Message.Contains("opened", StringComparison.Ordinal));
        Assert.Equal("open", Assert.Single(transitions.GetMeasurementSnapshot()).Tags["state"]);
    }

    [Theory]
    [InlineData("InvalidGrant", "invalid_grant")]
    [InlineData("Rejected", "invalid_scope")]
    [InlineData("InvalidClient", "invalid_client")]
    [InlineData("Unavailable", "rate_limited")]
    public async Task ProtocolAnswers_DoNotOpenTheCircuit(string kind, string error)
    {
        await FailAsync(CircuitBreaker.MinimumThroughput * 3, TokenResult.Failed(Enum.Parse<TokenFailureKind>(kind), error));

        Assert.True((await CallAsync(Success)).Succeeded);
        Assert.Empty(transitions.GetMeasurementSnapshot());
    }

    [Fact]
    public async Task AfterTheBreak_ExactlyOneProbeGoesThrough_AndItsSuccessClosesTheCircuit()
    {
        await FailAsync(CircuitBreaker.MinimumThroughput, TokenResult.Failed(TokenFailureKind.OutcomeUnknown, "timeout"));
        time.Advance(CircuitBreaker.BreakDuration);
        var release = new TaskCompletionSource<TokenResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var before = attempts;

        var probe = CallAsync(_ => release.Task);
        var others = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => CallAsync(Success)));
        release.SetResult(await Success(default));

        Assert.True((await probe).Succeeded);
        Assert.All(others, r => Assert.Equal(TokenErrors.CircuitOpen, r.Error));
        Assert.Equal(before + 1, attempts);
        Assert.True((await CallAsync(Success)).Succeeded);
        Assert.Equal(["open", "half_open", "closed"], transitions.GetMeasurementSnapshot().Select(m => (string)m.Tags["state"]!));
    }

    [Fact]
    public async Task AFailedProbe_OpensTheCircuitAgain()
    {
        await FailAsync(CircuitBreaker.MinimumThroughput, TokenResult.Failed(TokenFailureKind.Unavailable, "connection_failed"));
        time.Advance(CircuitBreaker.BreakDuration);

        await FailAsync(1, TokenResult.Failed(TokenFailureKind.OutcomeUnknown, "timeout"));

        Assert.Equal(TokenErrors.CircuitOpen, (await CallAsync(Success)).Error);
        Assert.Equal(["open", "half_open", "open"], transitions.GetMeasurementSnapshot().Select(m => (string)m.Tags["state"]!));
    }

    [Fact]
    public void RetryAfter_HttpDateWithoutDateHeader_MeasuredFromOurClock()
    {
        using var response = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        response.Headers.RetryAfter = new RetryConditionHeaderValue(time.GetUtcNow().AddSeconds(30));

        Assert.Equal(TimeSpan.FromSeconds(30), OAuthClientRetryAfter(response));
    }

    [Fact]
    public void RetryAfter_HttpDateWithDateHeader_MeasuredFromTheAnswersDate()
    {
        using var response = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        response.Headers.Date = time.GetUtcNow().AddSeconds(-100);
        response.Headers.RetryAfter = new RetryConditionHeaderValue(time.GetUtcNow().AddSeconds(-80));

        Assert.Equal(TimeSpan.FromSeconds(20), OAuthClientRetryAfter(response));
    }

    private TimeSpan? OAuthClientRetryAfter(HttpResponseMessage response) => OAuthClient.RetryAfter(response, time.GetUtcNow());

    private static Task<TokenResult> Success(CancellationToken _) =>
        Task.FromResult(TokenResult.Success(new TokenSet("access", "Bearer", TimeSpan.FromHours(1), "refresh", null, null)));

    private async Task FailAsync(int times, TokenResult failure)
    {
        for (var i = 0; i < times; i++)
        {
            await CallAsync(_ => Task.FromResult(failure));
        }
    }

    private Task<TokenResult> CallAsync(Func<CancellationToken, Task<TokenResult>> attempt) =>
        circuits.ExecuteAsync("provider", token =>
        {
            Interlocked.Increment(ref attempts);
            return attempt(token);
        }, CancellationToken.None);
}
