using Azure;
using Azure.Identity;
using Azure.Storage.Queues;
using FunctionsAuth.Configuration;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Events;

/// <summary>
/// The events queue (<c>FunctionsAuth:Events</c>, reached like the tables: the storage connection string locally, the
/// queue endpoint with the managed identity in Azure). Messages are base64, as the Functions host's queue trigger
/// reads them by default.
/// </summary>
internal sealed class EventsQueue
{
    public EventsQueue(IOptions<FunctionsAuthOptions> options)
    {
        var opts = options.Value;
        var clientOptions = new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 };

        // As for tables: fail within seconds rather than hold an event (and the buffer behind it) for minutes.
        clientOptions.Retry.MaxRetries = 2;
        clientOptions.Retry.Delay = TimeSpan.FromMilliseconds(200);
        clientOptions.Retry.MaxDelay = TimeSpan.FromSeconds(2);
        clientOptions.Retry.NetworkTimeout = TimeSpan.FromSeconds(10);
        var service = opts.Storage.ConnectionString is { Length: > 0 } connectionString
            ? new QueueServiceClient(connectionString, clientOptions)
            : new QueueServiceClient(opts.Storage.QueueServiceUri ?? throw new InvalidOperationException("FunctionsAuth:Storage:QueueServiceUri is not set."), new DefaultAzureCredential(), clientOptions);
        Client = service.GetQueueClient(opts.Events.QueueName);
    }

    public QueueClient Client { get; }

    /// <summary>Creates the queue where the identity may; with queue-scoped roles infra/ has created it already.</summary>
    public async Task EnsureExistsAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Client.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
        }
        catch (RequestFailedException ex) when (ex.Status == 403)
        {
            // Queue Data Message Sender/Processor cannot create queues: infra/ creates this one.
        }
    }
}
