using Microsoft.Extensions.Logging;

namespace FunctionsAuth.Events;

/// <summary>Events name a session by its log id, never by handle; a webhook by its host, never its path or query (which may carry a secret).</summary>
internal static partial class Log
{
    [LoggerMessage(9000, LogLevel.Debug, "Event {EventType} {EventId} for session {Session} emitted.")]
    public static partial void EventEmitted(ILogger logger, string eventType, string eventId, string session);

    [LoggerMessage(9001, LogLevel.Information, "Event {EventType} {EventId} for session {Session} enqueued.")]
    public static partial void EventEnqueued(ILogger logger, string eventType, string eventId, string session);

    [LoggerMessage(9002, LogLevel.Error, "Event {EventType} {EventId} for session {Session} could not be enqueued ({Failure}); it is lost, the transition it reports stands.")]
    public static partial void EventEnqueueFailed(ILogger logger, string eventType, string eventId, string session, string failure);

    [LoggerMessage(9003, LogLevel.Error, "Event {EventType} {EventId} for session {Session} dropped: the event buffer is full (the events queue is not keeping up or is away).")]
    public static partial void EventDropped(ILogger logger, string eventType, string eventId, string session);

    [LoggerMessage(9004, LogLevel.Warning, "The events queue {Queue} could not be reached at start-up ({Failure}); the first event creates it.")]
    public static partial void QueueUnavailableAtStart(ILogger logger, string queue, string failure);

    [LoggerMessage(9010, LogLevel.Information, "Event {EventId} delivered to the webhook at {WebhookHost} (attempt {Attempt}).")]
    public static partial void WebhookDelivered(ILogger logger, string eventId, string webhookHost, long attempt);

    [LoggerMessage(9011, LogLevel.Warning, "Event {EventId}: the webhook at {WebhookHost} did not take it (attempt {Attempt}: {Failure}); it is retried after the queue's visibility time-out.")]
    public static partial void WebhookFailed(ILogger logger, string eventId, string webhookHost, long attempt, string failure);

    [LoggerMessage(9012, LogLevel.Error, "A message on the events queue is not a CloudEvent FunctionsAuth wrote ({Failure}); it goes to the poison queue.")]
    public static partial void MalformedEventMessage(ILogger logger, string failure);

    [LoggerMessage(9013, LogLevel.Error, "The EventWebhook function runs but FunctionsAuth:Events:WebhookUrl is not set: set it, or disable the function (AzureWebJobs.EventWebhook.Disabled = true) so that events stay on the queue for the app.")]
    public static partial void WebhookNotConfigured(ILogger logger);
}
