using Azure.Storage.Queues.Models;
using FunctionsAuth.Configuration;
using FunctionsAuth.Events;
using Microsoft.Azure.Functions.Worker;

namespace FunctionsAuth.Functions;

/// <summary>
/// POSTs each session event on the <c>EventsQueueName</c> queue to the configured webhook, signed. A failure throws, so
/// the platform retries with the queue's visibility time-out and moves the event to the poison queue after host.json's
/// <c>maxDequeueCount</c> attempts. Disable it (<c>AzureWebJobs.EventWebhook.Disabled</c>) when no webhook is
/// configured: the app then reads the queue itself.
/// </summary>
public sealed class EventWebhookFunction(IEventWebhook webhook)
{
    [Function("EventWebhook")]
    public Task Run(
        [QueueTrigger("%" + EventsOptions.QueueNameSetting + "%")] QueueMessage message,
        CancellationToken cancellationToken) =>
        webhook.DeliverAsync(message.Body, message.DequeueCount, cancellationToken);
}
