using System.Net.Http.Headers;
using FunctionsAuth.Configuration;
using FunctionsAuth.Diagnostics;
using FunctionsAuth.Secrets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Events;

/// <summary>Delivers one message of the events queue to the configured webhook. Public so the Functions app's queue trigger can depend on it.</summary>
public interface IEventWebhook
{
    /// <summary>
    /// POSTs <paramref name="message"/> (a CloudEvent as it was enqueued) to the webhook, signed. Returns when the receiver
    /// answered 2xx; throws otherwise, so the queue makes the message visible again after its visibility time-out and,
    /// after <c>maxDequeueCount</c> attempts, moves it to the poison queue.
    /// </summary>
    /// <param name="attempt">The message's dequeue count, for the log.</param>
    Task DeliverAsync(BinaryData message, long attempt, CancellationToken cancellationToken);
}

/// <summary>The receiver did not take the event (a non-2xx answer, no answer in time, or no connection).</summary>
public sealed class WebhookDeliveryException(string failure, Exception? innerException = null)
    : Exception($"The webhook did not take the event ({failure}).", innerException)
{
    public string Failure { get; } = failure;
}

internal sealed class EventWebhook(
    IHttpClientFactory httpClients,
    ISecretSource secrets,
    FunctionsAuthMetrics metrics,
    TimeProvider time,
    IOptions<FunctionsAuthOptions> options,
    ILogger<EventWebhook> logger) : IEventWebhook
{
    public const string HttpClientName = "FunctionsAuth.EventWebhook";

    public async Task DeliverAsync(BinaryData message, long attempt, CancellationToken cancellationToken)
    {
        var events = options.Value.Events;
        if (events.WebhookUrl is not { } url)
        {
            Log.WebhookNotConfigured(logger);
            throw new InvalidOperationException("FunctionsAuth:Events:WebhookUrl is not set.");
        }

        string id;
        try
        {
            id = SessionEventFormat.Decode(message).Id ?? throw new FormatException("The event has no id.");
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or System.Text.Json.JsonException or InvalidOperationException)
        {
            Log.MalformedEventMessage(logger, ex.GetType().Name);
            throw;
        }

        var key = WebhookSignature.KeyFrom(await secrets.GetSecretAsync(events.WebhookSecretName, refresh: false, cancellationToken));
        var body = message.ToArray();
        var timestamp = time.GetUtcNow().ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = new ByteArrayContent(body),
        };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(SessionEventFormat.ContentType);
        request.Headers.Add(WebhookSignature.IdHeader, id);
        request.Headers.Add(WebhookSignature.TimestampHeader, timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.Add(WebhookSignature.SignatureHeader, WebhookSignature.Sign(key, id, timestamp, body));

        string failure;
        Exception? inner = null;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(events.WebhookTimeout);
        try
        {
            using var response = await httpClients.CreateClient(HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            if (response.IsSuccessStatusCode)
            {
                metrics.WebhookDelivery("delivered");
                Log.WebhookDelivered(logger, id, url.Host, attempt);
                return;
            }

            // The receiver's body is not read: it is theirs, and could echo anything.
            failure = "http_" + ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
            metrics.WebhookDelivery("rejected");
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            (failure, inner) = ("timeout", ex);
            metrics.WebhookDelivery("timeout");
        }
        catch (HttpRequestException ex)
        {
            (failure, inner) = ("unreachable", ex);
            metrics.WebhookDelivery("unreachable");
        }

        Log.WebhookFailed(logger, id, url.Host, attempt, failure);
        throw new WebhookDeliveryException(failure, inner);
    }
}
