using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace FunctionsAuth.Diagnostics;

/// <summary>Metrics under the meter <c>FunctionsAuth</c> (OpenTelemetry naming: dotted, lower case, units in UCUM).</summary>
public sealed class FunctionsAuthMetrics
{
    public const string MeterName = "FunctionsAuth";

    // The SDK's default boundaries (0, 5, 10, 25... 10000) suit milliseconds; these durations are in seconds.
    private static readonly InstrumentAdvice<double> SecondsBuckets = new()
    {
        HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60],
    };

    private readonly Histogram<double> leaseWaitDuration;
    private readonly Counter<long> keyRingLoads;
    private readonly Gauge<double> encryptionKeyTimeToExpiry;
    private readonly Counter<long> providerRequests;
    private readonly Histogram<double> providerDuration;
    private readonly Counter<long> refreshRequests;
    private readonly Counter<long> sweeperSessions;
    private readonly Histogram<double> sweeperDuration;
    private readonly Counter<long> sweeperErrors;
    private readonly Counter<long> rotatedTokenWrites;
    private readonly Counter<long> refreshOutcomeUnknown;
    private readonly Counter<long> circuitTransitions;
    private readonly Counter<long> events;
    private readonly Counter<long> webhookDeliveries;
    private readonly Counter<long> sweepWorkItems;

    public FunctionsAuthMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        leaseWaitDuration = meter.CreateHistogram<double>("functionsauth.refresh.lease_wait.duration", "s", "How long a refresh waited for another holder of the session's lease, by result (released, timed_out).", tags: null, advice: SecondsBuckets);
        keyRingLoads = meter.CreateCounter<long>("functionsauth.key_ring.loads", "{load}", "Loads of the token-encryption key ring, by result (loaded, unchanged, invalid_key, failed).");
        encryptionKeyTimeToExpiry = meter.CreateGauge<double>("functionsauth.key_ring.encryption_key.time_to_expiry", "s", "Time until the exp of the token-encryption key in use, recorded at each ring load (none when the key has no exp; 0 when every key has expired and nothing can be encrypted).");
        providerRequests = meter.CreateCounter<long>("functionsauth.provider.requests", "{request}", "Requests sent to providers' token and revocation endpoints.");
        providerDuration = meter.CreateHistogram<double>("functionsauth.provider.request.duration", "s", "Duration of provider token requests.", tags: null, advice: SecondsBuckets);
        refreshRequests = meter.CreateCounter<long>("functionsauth.refresh.requests", "{request}", "Calls of /api/auth/refresh by outcome.");
        sweeperSessions = meter.CreateCounter<long>("functionsauth.sweeper.sessions", "{session}", "Sessions handled by sweeper runs, by outcome.");
        sweeperDuration = meter.CreateHistogram<double>("functionsauth.sweeper.run.duration", "s", "Duration of sweeper runs, by result (completed, budget_exhausted, cancelled).");
        rotatedTokenWrites = meter.CreateCounter<long>("functionsauth.rotated_token.writes", "{write}", "Writes of a rotated refresh token that met a storage failure, by result (retried, stored, lost).");
        refreshOutcomeUnknown = meter.CreateCounter<long>("functionsauth.refresh.outcome_unknown", "{refresh}", "Refreshes sent to a provider whose answer was lost (time-out, dropped connection, unreadable answer).");
        circuitTransitions = meter.CreateCounter<long>("functionsauth.provider.circuit.transitions", "{transition}", "Changes of a provider's circuit breaker state (open, half_open, closed).");
        events = meter.CreateCounter<long>("functionsauth.events", "{event}", "Session events by kind (reauth_required, failing, recovered, revoked, purged) and result (enqueued, failed, dropped).");
        webhookDeliveries = meter.CreateCounter<long>("functionsauth.events.webhook.deliveries", "{delivery}", "Webhook delivery attempts of session events, by result (delivered, rejected, timeout, unreachable).");
        sweepWorkItems = meter.CreateCounter<long>("functionsauth.sweeper.work_items", "{item}", "Sweep work items (queue messages), by stage: planned, then completed, budget_exhausted, cancelled or failed as a worker ran them, malformed, and poison once the host gave up on one.");
        sweeperErrors = meter.CreateCounter<long>("functionsauth.sweeper.errors", "{error}", "Sessions a sweeper run could not handle because of an exception (storage, decryption...).");
    }

    internal void ProviderRequest(string provider, string grantType, string outcome, TimeSpan? duration = null)
    {
        var tags = new TagList { { "provider", provider }, { "grant_type", grantType }, { "outcome", outcome } };
        providerRequests.Add(1, tags);
        if (duration is { } elapsed)
        {
            providerDuration.Record(elapsed.TotalSeconds, tags);
        }
    }

    internal void RotatedTokenWrite(string result) => rotatedTokenWrites.Add(1, new KeyValuePair<string, object?>("result", result));

    internal void RefreshOutcomeUnknown(string provider, string error) =>
        refreshOutcomeUnknown.Add(1, new KeyValuePair<string, object?>("provider", provider), new KeyValuePair<string, object?>("error", error));

    internal void CircuitStateChanged(string provider, string state) =>
        circuitTransitions.Add(1, new KeyValuePair<string, object?>("provider", provider), new KeyValuePair<string, object?>("state", state));

    internal void RefreshRequest(string outcome) => refreshRequests.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    internal void SweeperSessions(string outcome, long count)
    {
        if (count > 0)
        {
            sweeperSessions.Add(count, new KeyValuePair<string, object?>("outcome", outcome));
        }
    }

    internal void SweeperRun(TimeSpan duration, string result) =>
        sweeperDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("result", result));

    internal void SweeperErrors(long count)
    {
        if (count > 0)
        {
            sweeperErrors.Add(count);
        }
    }

    internal void SweepWorkItems(string stage, long count = 1)
    {
        if (count > 0)
        {
            sweepWorkItems.Add(count, new KeyValuePair<string, object?>("stage", stage));
        }
    }

    internal void LeaseWait(TimeSpan duration, string result) =>
        leaseWaitDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("result", result));

    internal void EventPublished(string kind, string result) =>
        events.Add(1, new KeyValuePair<string, object?>("kind", kind), new KeyValuePair<string, object?>("result", result));

    internal void WebhookDelivery(string result) => webhookDeliveries.Add(1, new KeyValuePair<string, object?>("result", result));

    internal void EncryptionKeyTimeToExpiry(double seconds) => encryptionKeyTimeToExpiry.Record(Math.Max(0, seconds));

    internal void KeyRingLoad(string result) => keyRingLoads.Add(1, new KeyValuePair<string, object?>("result", result));
}
