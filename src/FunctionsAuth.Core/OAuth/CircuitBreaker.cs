using System.Collections.Concurrent;
using FunctionsAuth.Diagnostics;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;

namespace FunctionsAuth.OAuth;

/// <summary>
/// One circuit per provider, on Polly's circuit breaker: when most recent token requests to a provider failed
/// (no connection, 5xx, time-outs and dropped connections alike), stop calling it for <see cref="BreakDuration"/> so an
/// outage is not hammered by every request and sweep; then let exactly one probe through (half-open) and close again
/// only if it succeeds. Protocol answers (invalid_grant, invalid_client, 429 with its own delay) are not failures here.
/// </summary>
internal sealed class CircuitBreaker(TimeProvider time, FunctionsAuthMetrics metrics, ILogger<CircuitBreaker> logger)
{
    public const int MinimumThroughput = 5;
    public const double FailureRatio = 0.5;
    public static readonly TimeSpan SamplingDuration = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan BreakDuration = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, ResiliencePipeline<TokenResult>> circuits = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Runs one token request through the provider's circuit; an open circuit answers <c>circuit_open</c> without calling.</summary>
    public async Task<TokenResult> ExecuteAsync(string provider, Func<CancellationToken, Task<TokenResult>> attempt, CancellationToken cancellationToken)
    {
        var circuit = circuits.GetOrAdd(provider, Create);
        try
        {
            return await circuit.ExecuteAsync(static async (attempt, token) => await attempt(token), attempt, cancellationToken);
        }
        catch (BrokenCircuitException ex)
        {
            return TokenResult.Failed(TokenFailureKind.Unavailable, TokenErrors.CircuitOpen, ex.RetryAfter is { } retryAfter && retryAfter > TimeSpan.Zero ? retryAfter : BreakDuration);
        }
    }

    /// <summary>A failure that says the provider is in trouble, as opposed to an answer about this request.</summary>
    internal static bool IsProviderFailure(TokenResult result) =>
        result.Failure is TokenFailureKind.OutcomeUnknown
        || (result.Failure is TokenFailureKind.Unavailable && result.Error is not (TokenErrors.RateLimited or TokenErrors.CircuitOpen));

    private ResiliencePipeline<TokenResult> Create(string provider) =>
        new ResiliencePipelineBuilder<TokenResult> { TimeProvider = time }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<TokenResult>
            {
                FailureRatio = FailureRatio,
                MinimumThroughput = MinimumThroughput,
                SamplingDuration = SamplingDuration,
                BreakDuration = BreakDuration,
                ShouldHandle = static args => ValueTask.FromResult(args.Outcome.Exception is not null and not OperationCanceledException || (args.Outcome.Result is { } result && IsProviderFailure(result))),
                OnOpened = args =>
                {
                    Log.CircuitOpened(logger, provider, (int)args.BreakDuration.TotalSeconds);
                    metrics.CircuitStateChanged(provider, "open");
                    return ValueTask.CompletedTask;
                },
                OnHalfOpened = _ =>
                {
                    Log.CircuitHalfOpened(logger, provider);
                    metrics.CircuitStateChanged(provider, "half_open");
                    return ValueTask.CompletedTask;
                },
                OnClosed = _ =>
                {
                    Log.CircuitClosed(logger, provider);
                    metrics.CircuitStateChanged(provider, "closed");
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
}
