using System.Collections.Concurrent;
using FunctionsAuth.Diagnostics;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;

namespace FunctionsAuth.OAuth;

/// <summary>
/// One Polly pipeline per provider for token requests: a retry around a circuit breaker, both on the injected
/// <see cref="TimeProvider"/> (tests drive back-off and breaks with a fake clock).
/// <para>
/// Retry: only when the provider cannot have processed the request — no connection, 503 (and
/// <c>temporarily_unavailable</c>), 429 with a short <c>Retry-After</c>, and 500/502/504 from a provider seen not to
/// rotate refresh tokens — honouring <c>Retry-After</c> (seconds or HTTP-date) up to <see cref="MaxInlineRetryDelay"/>;
/// a longer one goes back to the caller. Never after a time-out, a dropped connection or a 5xx that may follow a
/// committed rotation, except once, at once, inside the provider's refresh-token reuse interval
/// (<see cref="TokenCall.ReuseInterval"/>), where the provider promises to answer the same token again.
/// </para>
/// <para>
/// Circuit: when most recent token requests to a provider failed (no connection, 5xx, time-outs and dropped
/// connections alike), stop calling it for <see cref="BreakDuration"/> so an outage is not hammered by every request
/// and sweep; then let exactly one probe through (half-open) and close again only if it succeeds. Protocol answers
/// (invalid_grant, invalid_client, 429 with its own delay) are not failures here. Every attempt, retries included,
/// passes through the circuit.
/// </para>
/// </summary>
internal sealed class ProviderResilience(TimeProvider time, FunctionsAuthMetrics metrics, ILogger<ProviderResilience> logger)
{
    /// <summary>Attempts per token request, the first included.</summary>
    public const int MaxAttempts = 3;

    /// <summary>Retry-After values up to this are waited for in-line; longer ones are passed to the caller.</summary>
    public static readonly TimeSpan MaxInlineRetryDelay = TimeSpan.FromSeconds(2);

    /// <summary>First back-off when the provider gave no Retry-After; doubles per attempt, with jitter, up to <see cref="MaxInlineRetryDelay"/>.</summary>
    public static readonly TimeSpan BaseBackoff = TimeSpan.FromMilliseconds(200);

    public const int MinimumThroughput = 5;
    public const double FailureRatio = 0.5;
    public static readonly TimeSpan SamplingDuration = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan BreakDuration = TimeSpan.FromSeconds(30);

    private static readonly ResiliencePropertyKey<TokenCall> CallKey = new("FunctionsAuth.TokenCall");
    private static readonly ResiliencePropertyKey<long> AttemptStartedKey = new("FunctionsAuth.AttemptStarted");
    private static readonly ResiliencePropertyKey<TokenResult?> RetriedUnknownKey = new("FunctionsAuth.RetriedUnknownOutcome");

    private readonly ConcurrentDictionary<string, ResiliencePipeline<TokenResult>> pipelines = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Runs a token request through the provider's pipeline. An open circuit answers <c>circuit_open</c> without
    /// calling; a result the retry gives up on is returned as the last attempt answered it.
    /// </summary>
    public async Task<TokenResult> ExecuteAsync(string provider, TokenCall call, Func<CancellationToken, Task<TokenResult>> attempt, CancellationToken cancellationToken)
    {
        var pipeline = pipelines.GetOrAdd(provider, Create);
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(CallKey, call);
        try
        {
            var result = await pipeline.ExecuteAsync(
                static async (context, state) =>
                {
                    context.Properties.Set(AttemptStartedKey, state.time.GetTimestamp());
                    return await state.attempt(context.CancellationToken);
                },
                context,
                (time, attempt));

            // A lost answer, sent again, then "not processed" (503, no connection): the first attempt may still have
            // spent the token, so the outcome stays unknown. A success or a definite answer (invalid_grant) stands.
            return result.Failure == TokenFailureKind.Unavailable && context.Properties.GetValue(RetriedUnknownKey, null) is { } unknown
                ? unknown
                : result;
        }
        catch (BrokenCircuitException) when (context.Properties.GetValue(RetriedUnknownKey, null) is { } unknown)
        {
            // The retry of a lost answer met a circuit that had just opened: the caller must still hear that the
            // token may be spent, not merely that the provider is down.
            return unknown;
        }
        catch (BrokenCircuitException ex)
        {
            return TokenResult.Failed(TokenFailureKind.Unavailable, TokenErrors.CircuitOpen, ex.RetryAfter is { } retryAfter && retryAfter > TimeSpan.Zero ? retryAfter : BreakDuration);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>A failure that says the provider is in trouble, as opposed to an answer about this request.</summary>
    internal static bool IsProviderFailure(TokenResult result) =>
        result.Failure is TokenFailureKind.OutcomeUnknown
        || (result.Failure is TokenFailureKind.Unavailable && result.Error is not (TokenErrors.RateLimited or TokenErrors.CircuitOpen));

    /// <summary>
    /// Whether the request may be sent again now. <paramref name="sinceSent"/>: how long ago the attempt that produced
    /// <paramref name="result"/> was sent (an unknown outcome is retried only while the reuse interval still covers it).
    /// </summary>
    internal static bool ShouldRetry(TokenResult result, TokenCall call, TimeSpan sinceSent, bool unknownRetried) => result.Failure switch
    {
        TokenFailureKind.Unavailable when result.Error == TokenErrors.CircuitOpen => false,

        // 429 is retried in line only when the provider says how long to wait and that is short.
        TokenFailureKind.Unavailable when result.Error == TokenErrors.RateLimited => result.RetryAfter is { } wait && wait <= MaxInlineRetryDelay,
        TokenFailureKind.Unavailable => result.RetryAfter is not { } retryAfter || retryAfter <= MaxInlineRetryDelay,

        // The provider may have spent the token. Inside its reuse interval it answers that token again: once, at once.
        TokenFailureKind.OutcomeUnknown => call.ReuseInterval > TimeSpan.Zero && !unknownRetried && sinceSent < call.ReuseInterval,
        _ => false,
    };

    private ResiliencePipeline<TokenResult> Create(string provider) =>
        new ResiliencePipelineBuilder<TokenResult> { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions<TokenResult>
            {
                MaxRetryAttempts = MaxAttempts - 1,
                BackoffType = DelayBackoffType.Exponential,
                Delay = BaseBackoff,
                MaxDelay = MaxInlineRetryDelay,
                UseJitter = true,
                ShouldHandle = args => ValueTask.FromResult(
                    args.Outcome.Result is { } result
                    && ShouldRetry(
                        result,
                        args.Context.Properties.GetValue(CallKey, default),
                        time.GetElapsedTime(args.Context.Properties.GetValue(AttemptStartedKey, time.GetTimestamp())),
                        args.Context.Properties.GetValue(RetriedUnknownKey, null) is not null)),
                DelayGenerator = static args => ValueTask.FromResult(args.Outcome.Result switch
                {
                    { Failure: TokenFailureKind.OutcomeUnknown } => TimeSpan.Zero,
                    { RetryAfter: { } retryAfter } => retryAfter,

                    // No Retry-After: the exponential back-off with jitter configured above.
                    _ => (TimeSpan?)null,
                }),
                OnRetry = args =>
                {
                    var result = args.Outcome.Result!;
                    if (result.Failure == TokenFailureKind.OutcomeUnknown)
                    {
                        args.Context.Properties.Set(RetriedUnknownKey, result);
                        Log.RetryingInsideReuseInterval(logger, provider, result.Error ?? "unknown");
                    }

                    Log.RetryingTokenRequest(logger, provider, args.Context.Properties.GetValue(CallKey, default).GrantType ?? "", result.Error ?? "unavailable", args.AttemptNumber + 1, (int)args.RetryDelay.TotalMilliseconds);
                    return ValueTask.CompletedTask;
                },
            })
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

/// <summary>What the pipeline needs to know about one token request.</summary>
/// <param name="GrantType">For logs: <c>refresh_token</c>, <c>authorization_code</c>.</param>
/// <param name="ReuseInterval">
/// How long after a refresh the provider still accepts the refresh token it was sent (Auth0's reuse interval, Okta's
/// grace period, OpenIddict's reuse leeway). Zero: never re-sent after an unknown outcome. Always zero for an
/// authorization code, which is single-use.
/// </param>
internal readonly record struct TokenCall(string GrantType, TimeSpan ReuseInterval);
