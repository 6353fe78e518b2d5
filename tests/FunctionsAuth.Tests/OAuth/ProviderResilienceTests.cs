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

/// <summary>
/// The per-provider Polly pipeline (retry around a circuit breaker), driven by a fake clock: no test waits for a
/// back-off, a Retry-After or a break to end; each moves the clock and checks that nothing happened before it.
/// </summary>
public sealed class ProviderResilienceTests : IDisposable
{
    private static readonly TokenCall Refresh = new("refresh_token", TimeSpan.Zero);
    private static readonly TokenCall RefreshWithReuseInterval = new("refresh_token", TimeSpan.FromSeconds(10));

    private readonly FakeTimeProvider time = new(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly FakeLogger<ProviderResilience> logger = new();
    private readonly ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly MetricCollector<long> transitions;
    private readonly ProviderResilience pipelines;
    private int attempts;

    public ProviderResilienceTests()
    {
        var meterFactory = services.GetRequiredService<IMeterFactory>();
        pipelines = new ProviderResilience(time, new FunctionsAuthMetrics(meterFactory), logger);
        transitions = new MetricCollector<long>(meterFactory, FunctionsAuthMetrics.MeterName, "functionsauth.provider.circuit.transitions");
    }

    public void Dispose()
    {
        transitions.Dispose();
        services.Dispose();
    }

    // ---- Retry ----

    [Theory]
    [InlineData("connection_failed")]
    [InlineData("server_error")]
    [InlineData("temporarily_unavailable")]
    public async Task NotProcessed_RetriedAfterABackOffOnTheClock_ThenSucceeds(string error)
    {
        var answers = new Queue<TokenResult>([TokenResult.Failed(TokenFailureKind.Unavailable, error)]);

        var call = CallAsync(Refresh, _ => Task.FromResult(answers.Count > 0 ? answers.Dequeue() : SuccessResult()));
        await SettleAsync();

        // The back-off has not passed on the clock: no second attempt yet.
        Assert.False(call.IsCompleted);
        Assert.Equal(1, attempts);

        var result = await DriveAsync(call);
        Assert.True(result.Succeeded);
        Assert.Equal(2, attempts);
        Assert.Contains(logger.Collector.GetSnapshot(), r => r.Message.Contains($"after {error}, attempt 1", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AlwaysUnavailable_TriedMaxAttemptsTimes_AndTheLastAnswerReturned()
    {
        var result = await DriveAsync(CallAsync(Refresh, _ => Task.FromResult(TokenResult.Failed(TokenFailureKind.Unavailable, TokenErrors.ServerError))));

        Assert.Equal(TokenErrors.ServerError, result.Error);
        Assert.Equal(ProviderResilience.MaxAttempts, attempts);
    }

    [Fact]
    public async Task RetryAfter_ShortOne_WaitedForExactlyOnTheClock()
    {
        var answers = new Queue<TokenResult>([TokenResult.Failed(TokenFailureKind.Unavailable, TokenErrors.RateLimited, TimeSpan.FromSeconds(1))]);

        var call = CallAsync(Refresh, _ => Task.FromResult(answers.Count > 0 ? answers.Dequeue() : SuccessResult()));
        await SettleAsync();
        time.Advance(TimeSpan.FromMilliseconds(999));
        await SettleAsync();
        Assert.False(call.IsCompleted);
        Assert.Equal(1, attempts);

        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True((await call.WaitAsync(TimeSpan.FromSeconds(10))).Succeeded);
        Assert.Equal(2, attempts);
    }

    [Theory]
    [InlineData(TokenErrors.RateLimited)]
    [InlineData(TokenErrors.ServerError)]
    public async Task RetryAfter_LongerThanTheInlineCap_HandedToTheCallerWithoutRetry(string error)
    {
        var result = await CallAsync(Refresh, _ => Task.FromResult(TokenResult.Failed(TokenFailureKind.Unavailable, error, TimeSpan.FromSeconds(30))));

        Assert.Equal(TimeSpan.FromSeconds(30), result.RetryAfter);
        Assert.Equal(1, attempts);
    }

    [Fact]
    public async Task RateLimited_WithoutRetryAfter_HandedToTheCaller()
    {
        var result = await CallAsync(Refresh, _ => Task.FromResult(TokenResult.Failed(TokenFailureKind.Unavailable, TokenErrors.RateLimited)));

        Assert.Equal(TokenErrors.RateLimited, result.Error);
        Assert.Equal(1, attempts);
    }

    [Theory]
    [InlineData("timeout")]
    [InlineData("connection_dropped")]
    [InlineData("server_error")]
    [InlineData("invalid_response")]
    public async Task UnknownOutcome_WithoutReuseInterval_NeverSentAgain(string error)
    {
        var result = await CallAsync(Refresh, _ => Task.FromResult(TokenResult.Failed(TokenFailureKind.OutcomeUnknown, error)));

        Assert.Equal(error, result.Error);
        Assert.Equal(1, attempts);
    }

    [Fact]
    public async Task UnknownOutcome_InsideTheReuseInterval_SentAgainAtOnce_Once()
    {
        // No clock movement at all: the retry does not wait.
        var result = await CallAsync(RefreshWithReuseInterval, _ => Task.FromResult(TokenResult.Failed(TokenFailureKind.OutcomeUnknown, "connection_dropped")));

        Assert.Equal("connection_dropped", result.Error);
        Assert.Equal(2, attempts);
        Assert.Contains(logger.Collector.GetSnapshot(), r => r.Message.Contains("inside the provider's reuse interval", StringComparison.Ordinal));
    }

    [Fact]
    public async Task UnknownOutcome_InsideTheReuseInterval_RecoversInTheSameCall()
    {
        var answers = new Queue<TokenResult>([TokenResult.Failed(TokenFailureKind.OutcomeUnknown, "connection_dropped")]);

        var result = await CallAsync(RefreshWithReuseInterval, _ => Task.FromResult(answers.Count > 0 ? answers.Dequeue() : SuccessResult()));

        Assert.True(result.Succeeded);
        Assert.Equal(2, attempts);
    }

    [Fact]
    public async Task UnknownOutcome_SentAgainAndThenNotProcessed_StaysUnknown()
    {
        // The first attempt may have spent the token; a 503 to the second says nothing about the first.
        var answers = new Queue<TokenResult>([TokenResult.Failed(TokenFailureKind.OutcomeUnknown, "connection_dropped"), TokenResult.Failed(TokenFailureKind.Unavailable, TokenErrors.ServerError, TimeSpan.FromSeconds(30))]);

        var result = await CallAsync(RefreshWithReuseInterval, _ => Task.FromResult(answers.Dequeue()));

        Assert.Equal((TokenFailureKind.OutcomeUnknown, "connection_dropped"), (result.Failure!.Value, result.Error));
        Assert.Equal(2, attempts);
    }

    [Fact]
    public async Task UnknownOutcome_WhoseRetryMeetsACircuitJustOpened_StaysUnknown()
    {
        for (var i = 0; i < ProviderResilience.MinimumThroughput - 1; i++)
        {
            await CallAsync(Refresh, _ => Task.FromResult(TokenResult.Failed(TokenFailureKind.OutcomeUnknown, "timeout")));
        }

        // The fifth failure opens the circuit; the retry inside the reuse interval is refused by it without a call.
        var result = await CallAsync(RefreshWithReuseInterval, _ => Task.FromResult(TokenResult.Failed(TokenFailureKind.OutcomeUnknown, "connection_dropped")));

        Assert.Equal((TokenFailureKind.OutcomeUnknown, "connection_dropped"), (result.Failure!.Value, result.Error));
        Assert.Equal(ProviderResilience.MinimumThroughput, attempts);
    }

    [Fact]
    public async Task UnknownOutcome_AfterTheReuseIntervalHasPassed_NotSentAgain()
    {
        // A time-out: the request was sent longer ago than the provider keeps the old token.
        var result = await CallAsync(RefreshWithReuseInterval, _ =>
        {
            time.Advance(TimeSpan.FromSeconds(15));
            return Task.FromResult(TokenResult.Failed(TokenFailureKind.OutcomeUnknown, "timeout"));
        });

        Assert.Equal("timeout", result.Error);
        Assert.Equal(1, attempts);
    }

    [Theory]
    [InlineData("InvalidGrant", "invalid_grant")]
    [InlineData("Rejected", "invalid_scope")]
    [InlineData("InvalidClient", "invalid_client")]
    public async Task ProtocolAnswers_NeverRetried(string kind, string error)
    {
        var result = await CallAsync(RefreshWithReuseInterval, _ => Task.FromResult(TokenResult.Failed(Enum.Parse<TokenFailureKind>(kind), error)));

        Assert.Equal(error, result.Error);
        Assert.Equal(1, attempts);
    }

    // ---- Circuit ----

    [Theory]
    [InlineData("OutcomeUnknown", "timeout")]
    [InlineData("OutcomeUnknown", "connection_dropped")]
    [InlineData("Unavailable", "connection_failed")]
    [InlineData("Unavailable", "server_error")]
    public async Task RepeatedFailuresOfAnyKind_OpenTheCircuit_NoFurtherCallsUntilTheBreakEnds(string kind, string error)
    {
        await FailUntilOpenAsync(TokenResult.Failed(Enum.Parse<TokenFailureKind>(kind), error));

        var rejected = await CallAsync(Refresh, Success);

        Assert.Equal(TokenErrors.CircuitOpen, rejected.Error);
        // What is left of the break (the back-offs before it opened moved the clock a little).
        Assert.InRange(rejected.RetryAfter!.Value, ProviderResilience.BreakDuration - TimeSpan.FromSeconds(2), ProviderResilience.BreakDuration);
        Assert.Equal(ProviderResilience.MinimumThroughput, attempts);
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
        for (var i = 0; i < ProviderResilience.MinimumThroughput * 3; i++)
        {
            await CallAsync(Refresh, _ => Task.FromResult(TokenResult.Failed(Enum.Parse<TokenFailureKind>(kind), error)));
        }

        Assert.True((await CallAsync(Refresh, Success)).Succeeded);
        Assert.Empty(transitions.GetMeasurementSnapshot());
    }

    [Fact]
    public async Task AfterTheBreak_ExactlyOneProbeGoesThrough_AndItsSuccessClosesTheCircuit()
    {
        await FailUntilOpenAsync(TokenResult.Failed(TokenFailureKind.OutcomeUnknown, "timeout"));
        time.Advance(ProviderResilience.BreakDuration);
        var release = new TaskCompletionSource<TokenResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var before = attempts;

        var probe = CallAsync(Refresh, _ => release.Task);
        var others = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => CallAsync(Refresh, Success)));
        release.SetResult(SuccessResult());

        Assert.True((await probe).Succeeded);
        Assert.All(others, r => Assert.Equal(TokenErrors.CircuitOpen, r.Error));
        Assert.Equal(before + 1, attempts);
        Assert.True((await CallAsync(Refresh, Success)).Succeeded);
        Assert.Equal(["open", "half_open", "closed"], transitions.GetMeasurementSnapshot().Select(m => (string)m.Tags["state"]!));
    }

    [Fact]
    public async Task AFailedProbe_OpensTheCircuitAgain_AndTheRetryStopsThere()
    {
        await FailUntilOpenAsync(TokenResult.Failed(TokenFailureKind.Unavailable, "connection_failed"));
        time.Advance(ProviderResilience.BreakDuration);
        var before = attempts;

        // The probe fails with a retryable answer: its retry meets the open circuit and stops, without calling.
        var result = await DriveAsync(CallAsync(Refresh, _ => Task.FromResult(TokenResult.Failed(TokenFailureKind.Unavailable, "connection_failed"))));

        Assert.Equal(TokenErrors.CircuitOpen, result.Error);
        Assert.Equal(before + 1, attempts);
        Assert.Equal(TokenErrors.CircuitOpen, (await CallAsync(Refresh, Success)).Error);
        Assert.Equal(["open", "half_open", "open"], transitions.GetMeasurementSnapshot().Select(m => (string)m.Tags["state"]!));
    }

    // ---- Retry-After ----

    [Fact]
    public void RetryAfter_HttpDateWithoutDateHeader_MeasuredFromOurClock()
    {
        using var response = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        response.Headers.RetryAfter = new RetryConditionHeaderValue(time.GetUtcNow().AddSeconds(30));

        Assert.Equal(TimeSpan.FromSeconds(30), OAuthClient.RetryAfter(response, time.GetUtcNow()));
    }

    [Fact]
    public void RetryAfter_HttpDateWithDateHeader_MeasuredFromTheAnswersDate()
    {
        using var response = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        response.Headers.Date = time.GetUtcNow().AddSeconds(-100);
        response.Headers.RetryAfter = new RetryConditionHeaderValue(time.GetUtcNow().AddSeconds(-80));

        Assert.Equal(TimeSpan.FromSeconds(20), OAuthClient.RetryAfter(response, time.GetUtcNow()));
    }

    private static TokenResult SuccessResult() => TokenResult.Success(new TokenSet("access", "Bearer", TimeSpan.FromHours(1), "refresh", null, null));

    private static Task<TokenResult> Success(CancellationToken _) => Task.FromResult(SuccessResult());

    /// <summary>Calls that fail (retries included) until the circuit has seen <see cref="ProviderResilience.MinimumThroughput"/> failures and opened.</summary>
    private async Task FailUntilOpenAsync(TokenResult failure)
    {
        while (attempts < ProviderResilience.MinimumThroughput)
        {
            await DriveAsync(CallAsync(Refresh, _ => Task.FromResult(failure)));
        }
    }

    private Task<TokenResult> CallAsync(TokenCall call, Func<CancellationToken, Task<TokenResult>> attempt) =>
        pipelines.ExecuteAsync("provider", call, token =>
        {
            Interlocked.Increment(ref attempts);
            return attempt(token);
        }, CancellationToken.None);

    /// <summary>Moves the fake clock on in small steps until <paramref name="call"/> completes (bounded: a hang fails the test).</summary>
    private async Task<TokenResult> DriveAsync(Task<TokenResult> call)
    {
        for (var step = 0; step < 1_000; step++)
        {
            await SettleAsync();
            if (call.IsCompleted)
            {
                break;
            }

            time.Advance(TimeSpan.FromMilliseconds(50));
        }

        return await call.WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>Lets continuations scheduled by the last step run (the pipeline arms its delay timer asynchronously).</summary>
    private static Task SettleAsync() => Task.Delay(5);
}
