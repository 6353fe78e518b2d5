using System.Net;
using Azure;
using Azure.Identity;
using Azure.Storage.Queues;
using FunctionsAuth.Configuration;
using FunctionsAuth.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Sweeping;

/// <summary>
/// The planner's side of the work-item queue. It is reached through the very connection the queue trigger listens on
/// (<see cref="ConnectionSetting"/>, read the way the Functions host reads it), so the planner cannot enqueue anywhere
/// the workers do not listen. Messages are base64, the queue trigger's default encoding.
/// </summary>
internal sealed class SweepQueue
{
    /// <summary>The queue trigger's connection: the Functions host's own storage.</summary>
    public const string ConnectionSetting = "AzureWebJobsStorage";

    private readonly QueueClient? queue;
    private readonly ILogger<SweepQueue> logger;
    private volatile bool created;

    public SweepQueue(IConfiguration configuration, IOptions<FunctionsAuthOptions> options, ILogger<SweepQueue> logger)
        : this(CreateServiceClient(configuration)?.GetQueueClient(options.Value.Sweeper.QueueName), logger)
    {
    }

    /// <summary>On a given client (the benchmarks count its requests).</summary>
    internal SweepQueue(QueueClient? queue, ILogger<SweepQueue> logger)
    {
        this.queue = queue;
        this.logger = logger;
    }

    /// <summary>False without a queue connection: runs then sweep in process (<see cref="SweepFanOut.Auto"/>).</summary>
    public bool IsConfigured => queue is not null;

    public string Name => queue?.Name ?? "";

    /// <summary>Whether <see cref="ConnectionSetting"/> names a queue service: a connection string, or an identity-based <c>__queueServiceUri</c> / <c>__accountName</c>.</summary>
    public static bool IsConfiguredIn(IConfiguration configuration) =>
        configuration[ConnectionSetting] is { Length: > 0 }
        || configuration[ConnectionSetting + ":queueServiceUri"] is { Length: > 0 }
        || configuration[ConnectionSetting + ":accountName"] is { Length: > 0 };

    /// <summary>Messages queued, visible or not (approximate, never below the true count); a worker deletes its message only when done.</summary>
    public async Task<int> CountAsync(CancellationToken cancellationToken)
    {
        var client = Client;
        try
        {
            await EnsureCreatedAsync(client, cancellationToken);
            return (await client.GetPropertiesAsync(cancellationToken)).Value.ApproximateMessagesCount;
        }
        catch (Exception ex) when (IsOutage(ex, cancellationToken))
        {
            throw new StorageUnavailableException(Failure(ex), ex);
        }
    }

    public async Task EnqueueAsync(SweepWorkItem item, CancellationToken cancellationToken)
    {
        var client = Client;
        try
        {
            await EnsureCreatedAsync(client, cancellationToken);
            await client.SendMessageAsync(item.ToJson(), cancellationToken);
        }
        catch (Exception ex) when (IsOutage(ex, cancellationToken))
        {
            throw new StorageUnavailableException(Failure(ex), ex);
        }
    }

    private QueueClient Client => queue ?? throw new InvalidOperationException($"No queue connection: {ConnectionSetting} is not set.");

    private async Task EnsureCreatedAsync(QueueClient client, CancellationToken cancellationToken)
    {
        if (created)
        {
            return;
        }

        try
        {
            await client.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
        }
        catch (RequestFailedException ex) when (ex.Status == (int)HttpStatusCode.Forbidden)
        {
            // With queue-scoped roles the app may not create queues; infra/ creates them.
            Log.QueueCreationForbidden(logger, client.Name);
        }

        created = true;
    }

    /// <summary>
    /// The connection as the Functions host resolves it: a connection string in the setting itself, or an identity-based
    /// connection (<c>__queueServiceUri</c> or <c>__accountName</c>; the identity from <c>AZURE_CLIENT_ID</c>, as the rest of the app).
    /// </summary>
    internal static QueueServiceClient? CreateServiceClient(IConfiguration configuration)
    {
        var options = new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 };

        // Fail within seconds, as the table clients do: a run that cannot enqueue is reported, and the next one plans again.
        options.Retry.MaxRetries = 2;
        options.Retry.Delay = TimeSpan.FromMilliseconds(200);
        options.Retry.MaxDelay = TimeSpan.FromSeconds(2);
        options.Retry.NetworkTimeout = TimeSpan.FromSeconds(10);
        if (configuration[ConnectionSetting] is { Length: > 0 } connectionString)
        {
            return new QueueServiceClient(connectionString, options);
        }

        var uri = configuration[ConnectionSetting + ":queueServiceUri"] is { Length: > 0 } serviceUri
            ? new Uri(serviceUri)
            : configuration[ConnectionSetting + ":accountName"] is { Length: > 0 } account
                ? new Uri($"https://{account}.queue.core.windows.net")
                : null;
        return uri is null ? null : new QueueServiceClient(uri, new DefaultAzureCredential(), options);
    }

    private static bool IsOutage(Exception ex, CancellationToken cancellationToken) => ex switch
    {
        RequestFailedException r => r.Status is 0 or (int)HttpStatusCode.Forbidden or (int)HttpStatusCode.NotFound or (int)HttpStatusCode.RequestTimeout or (int)HttpStatusCode.TooManyRequests or >= 500,
        AggregateException or HttpRequestException or IOException => true,
        OperationCanceledException => !cancellationToken.IsCancellationRequested,
        _ => false,
    };

    private static string Failure(Exception ex) => ex switch
    {
        RequestFailedException { Status: > 0 } r => "http_" + r.Status.ToString(System.Globalization.CultureInfo.InvariantCulture),
        OperationCanceledException => "timeout",
        _ => "connection_failed",
    };
}
