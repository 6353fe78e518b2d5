using System.Reflection;
using System.Runtime.ExceptionServices;
using System.Text.Json;
using Azure;
using Azure.Identity;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FunctionsAuth.LocalHost;

/// <summary>
/// Runs the queue-triggered functions the way the Functions host's queue listener does, for machines without Core
/// Tools: polls each queue (backing off to <c>maxPollingInterval</c> while it is empty), runs up to
/// <c>batchSize</c> messages at once and fetches more when fewer than <c>newBatchThreshold</c> are running, keeps a
/// running message invisible (renewed halfway through its lease), deletes it on success, makes it visible again after
/// <c>visibilityTimeout</c> on failure, and moves it to <c>&lt;queue&gt;-poison</c> once it has been dequeued
/// <c>maxDequeueCount</c> times. Settings come from host.json <c>extensions.queues</c> (see
/// <see cref="QueueHostSettings"/>).
/// </summary>
/// <remarks>
/// Written by hand because the WebJobs queue listener that does this in Azure only runs inside the Functions host,
/// which cannot be installed here; it is kept to the documented behaviour, nothing more.
/// </remarks>
internal sealed partial class QueueTriggerHost(
    FunctionCatalog catalog,
    IServiceScopeFactory scopes,
    IConfiguration configuration,
    TimeProvider time,
    ILogger<QueueTriggerHost> logger) : BackgroundService
{
    private static readonly TimeSpan MinimumPollingInterval = TimeSpan.FromMilliseconds(100);

    private readonly QueueHostSettings settings = QueueHostSettings.From(configuration);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(catalog.Queues
            .Where(function => !FunctionEndpoints.IsDisabled(configuration, function.Name))
            .Select(function => ListenAsync(function, stoppingToken)));

    /// <summary>
    /// A queue name with <c>%Setting%</c> parts (<c>%SweepQueueName%-poison</c>) resolved from configuration, as the
    /// Functions host resolves binding expressions; the sweep and events queues' settings fall back to their documented
    /// defaults, as the Functions app's metadata does (SettingDefaults).
    /// </summary>
    internal static string ResolveQueueName(string queueName, IConfiguration configuration) =>
        SettingExpression().Replace(queueName, match =>
        {
            var setting = match.Groups[1].Value;
            if (setting == FunctionsAuth.Configuration.SweeperOptions.QueueNameSetting)
            {
                return FunctionsAuth.Configuration.SweeperOptions.ResolveQueueName(configuration);
            }

            if (setting == FunctionsAuth.Configuration.EventsOptions.QueueNameSetting)
            {
                return FunctionsAuth.Configuration.EventsOptions.ResolveQueueName(configuration);
            }

            return configuration[setting] is { Length: > 0 } value
                ? value
                : throw new InvalidOperationException($"The queue name setting '{setting}' is not set.");
        });

    [System.Text.RegularExpressions.GeneratedRegex("%([^%]+)%")]
    private static partial System.Text.RegularExpressions.Regex SettingExpression();

    /// <summary>
    /// The queue service for a trigger's <c>Connection</c> setting (default <c>AzureWebJobsStorage</c>): a
    /// connection string, or <c>&lt;name&gt;__queueServiceUri</c> with a token credential, as the Functions host reads it.
    /// </summary>
    internal static QueueServiceClient CreateServiceClient(string? connection, IConfiguration configuration, QueueMessageEncoding encoding)
    {
        var name = string.IsNullOrEmpty(connection) ? "AzureWebJobsStorage" : connection;
        var options = new QueueClientOptions { MessageEncoding = encoding };
        if (configuration[name] is { Length: > 0 } connectionString)
        {
            return new QueueServiceClient(connectionString == "UseDevelopmentStorage=true" ? DevelopmentStorage : connectionString, options);
        }

        if (configuration[$"{name}:queueServiceUri"] is { Length: > 0 } uri)
        {
            return new QueueServiceClient(new Uri(uri), new DefaultAzureCredential(), options);
        }

        throw new InvalidOperationException($"The queue connection setting '{name}' is not set (a connection string, or '{name}__queueServiceUri').");
    }

    // Azurite's well-known development account (the same one the README documents), queue service on its default port.
    private const string DevelopmentStorage = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;";

    private async Task ListenAsync(QueueFunction function, CancellationToken stoppingToken)
    {
        QueueClient queue;
        QueueClient poison;
        try
        {
            var service = CreateServiceClient(function.Connection, configuration, settings.MessageEncoding);
            var name = ResolveQueueName(function.QueueName, configuration);
            queue = service.GetQueueClient(name);
            poison = service.GetQueueClient(name + "-poison");
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException or ArgumentException)
        {
            LogListenerFailed(logger, function.Name, ex);
            return;
        }

        LogListening(logger, function.Name, queue.Name);
        var running = new HashSet<Task>();
        var interval = MinimumPollingInterval;
        var created = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            running.RemoveWhere(task => task.IsCompleted);
            QueueMessage[] messages = [];
            if (running.Count <= settings.NewBatchThreshold)
            {
                try
                {
                    if (!created)
                    {
                        await queue.CreateIfNotExistsAsync(cancellationToken: stoppingToken);
                        created = true;
                    }

                    messages = (await queue.ReceiveMessagesAsync(settings.BatchSize, settings.MessageLease, stoppingToken)).Value;
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    break;
                }
                catch (RequestFailedException ex)
                {
                    // The queue service is away: like the host's listener, log and keep polling at the slowest rate.
                    LogPollFailed(logger, function.Name, ex.Status);
                    interval = settings.MaxPollingInterval;
                }
                catch (Exception ex) when (ex is AggregateException or HttpRequestException or IOException)
                {
                    LogPollFailed(logger, function.Name, 0);
                    interval = settings.MaxPollingInterval;
                }
            }

            foreach (var message in messages)
            {
                running.Add(ProcessAsync(function, queue, poison, message, stoppingToken));
            }

            if (messages.Length > 0)
            {
                interval = MinimumPollingInterval;
                continue;
            }

            try
            {
                await Task.Delay(interval, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            interval = TimeSpan.FromTicks(Math.Min(interval.Ticks * 2, settings.MaxPollingInterval.Ticks));
        }

        // A stopping host lets its running messages finish (or be cancelled) before it returns, like the Functions host.
        await Task.WhenAll(running);
    }

    private async Task ProcessAsync(QueueFunction function, QueueClient queue, QueueClient poison, QueueMessage message, CancellationToken stoppingToken)
    {
        // Past the last attempt the message is not run again: the host moves it to the poison queue first.
        if (message.DequeueCount > settings.MaxDequeueCount)
        {
            await MoveToPoisonAsync(function, queue, poison, message, message.PopReceipt, stoppingToken);
            return;
        }

        var receipt = message.PopReceipt;
        using var renewal = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var renewing = KeepInvisibleAsync(queue, message, r => receipt = r, renewal.Token);
        Exception? failure = null;
        try
        {
            await InvokeAsync(function, message, stoppingToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            failure = ex;
        }
        catch (OperationCanceledException)
        {
            // Host stopping: leave the message invisible; it comes back when its lease runs out, as in Azure.
            await renewal.CancelAsync();
            await renewing;
            return;
        }

        await renewal.CancelAsync();
        await renewing;
        try
        {
            if (failure is null)
            {
                await queue.DeleteMessageAsync(message.MessageId, receipt, CancellationToken.None);
                return;
            }

            LogInvocationFailed(logger, function.Name, message.MessageId, message.DequeueCount, failure);
            if (message.DequeueCount >= settings.MaxDequeueCount)
            {
                await MoveToPoisonAsync(function, queue, poison, message, receipt, stoppingToken);
            }
            else
            {
                await queue.UpdateMessageAsync(message.MessageId, receipt, visibilityTimeout: settings.VisibilityTimeout, cancellationToken: CancellationToken.None);
            }
        }
        catch (RequestFailedException ex)
        {
            // The receipt is stale (the lease ran out and another listener took the message) or storage is away:
            // the message comes back on its own, which is the at-least-once the Functions host gives too.
            LogCompletionFailed(logger, function.Name, message.MessageId, ex.Status);
        }
    }

    private async Task MoveToPoisonAsync(QueueFunction function, QueueClient queue, QueueClient poison, QueueMessage message, string receipt, CancellationToken stoppingToken)
    {
        try
        {
            await poison.CreateIfNotExistsAsync(cancellationToken: stoppingToken);
            await poison.SendMessageAsync(message.Body, cancellationToken: stoppingToken);
            await queue.DeleteMessageAsync(message.MessageId, receipt, stoppingToken);
            LogPoisoned(logger, function.Name, message.MessageId, message.DequeueCount, poison.Name);
        }
        catch (RequestFailedException ex)
        {
            LogCompletionFailed(logger, function.Name, message.MessageId, ex.Status);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task KeepInvisibleAsync(QueueClient queue, QueueMessage message, Action<string> setReceipt, CancellationToken cancellationToken)
    {
        var receipt = message.PopReceipt;
        try
        {
            while (true)
            {
                await Task.Delay(settings.MessageLease / 2, time, cancellationToken);
                var updated = await queue.UpdateMessageAsync(message.MessageId, receipt, visibilityTimeout: settings.MessageLease, cancellationToken: cancellationToken);
                receipt = updated.Value.PopReceipt;
                setReceipt(receipt);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (RequestFailedException ex)
        {
            LogCompletionFailed(logger, "lease renewal", message.MessageId, ex.Status);
        }
    }

    private async Task InvokeAsync(QueueFunction function, QueueMessage message, CancellationToken stoppingToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var instance = function.Method.IsStatic ? null : ActivatorUtilities.CreateInstance(scope.ServiceProvider, function.Type);
        var arguments = function.Method.GetParameters()
            .Select(p => p == function.Trigger ? Bind(p.ParameterType, message) : stoppingToken)
            .ToArray();
        object? returned;
        try
        {
            returned = function.Method.Invoke(instance, arguments);
        }
        catch (TargetInvocationException ex) when (ex.InnerException is not null)
        {
            ExceptionDispatchInfo.Throw(ex.InnerException);
            throw;
        }

        if (returned is Task task)
        {
            await task;
        }
    }

    /// <summary>The trigger parameter's value, for the types the worker's queue extension binds.</summary>
    internal static object Bind(Type type, QueueMessage message)
    {
        if (type == typeof(QueueMessage))
        {
            return message;
        }

        if (type == typeof(string))
        {
            return message.Body.ToString();
        }

        if (type == typeof(BinaryData))
        {
            return message.Body;
        }

        if (type == typeof(byte[]))
        {
            return message.Body.ToArray();
        }

        return JsonSerializer.Deserialize(message.Body.ToMemory().Span, type, JsonSerializerOptions.Web)
            ?? throw new JsonException($"The message is JSON null; {type.Name} expected.");
    }

    [LoggerMessage(7100, LogLevel.Information, "Queue function {Function} listening on queue {Queue}.")]
    private static partial void LogListening(ILogger logger, string function, string queue);

    [LoggerMessage(7101, LogLevel.Error, "Queue function {Function} cannot listen.")]
    private static partial void LogListenerFailed(ILogger logger, string function, Exception exception);

    [LoggerMessage(7102, LogLevel.Warning, "Queue function {Function}: polling the queue failed (status {Status}); retrying.")]
    private static partial void LogPollFailed(ILogger logger, string function, int status);

    [LoggerMessage(7103, LogLevel.Error, "Queue function {Function} failed on message {MessageId} (attempt {DequeueCount}).")]
    private static partial void LogInvocationFailed(ILogger logger, string function, string messageId, long dequeueCount, Exception exception);

    [LoggerMessage(7104, LogLevel.Error, "Queue function {Function}: message {MessageId} moved to {PoisonQueue} after {DequeueCount} attempts.")]
    private static partial void LogPoisoned(ILogger logger, string function, string messageId, long dequeueCount, string poisonQueue);

    [LoggerMessage(7105, LogLevel.Warning, "Queue function {Function}: message {MessageId} could not be completed (status {Status}); it becomes visible again.")]
    private static partial void LogCompletionFailed(ILogger logger, string function, string messageId, int status);
}

/// <summary>
/// host.json <c>extensions.queues</c>, read from configuration section <c>AzureFunctionsJobHost:extensions:queues</c>
/// (host.json is loaded there, and app settings <c>AzureFunctionsJobHost__extensions__queues__*</c> override it, as
/// in Azure). Defaults are the Functions host's. <c>LocalHost:Queues:MessageLease</c> is the local host's own: how
/// long a running message stays invisible before it is renewed (the Functions host uses 10 minutes).
/// </summary>
internal sealed record QueueHostSettings(
    int BatchSize,
    int NewBatchThreshold,
    long MaxDequeueCount,
    TimeSpan VisibilityTimeout,
    TimeSpan MaxPollingInterval,
    TimeSpan MessageLease,
    QueueMessageEncoding MessageEncoding)
{
    public const string Section = "AzureFunctionsJobHost:extensions:queues";

    public static QueueHostSettings From(IConfiguration configuration)
    {
        var queues = configuration.GetSection(Section);
        var batchSize = queues.GetValue("batchSize", 16);
        if (batchSize is < 1 or > 32)
        {
            throw new InvalidOperationException($"host.json extensions.queues.batchSize must be 1–32 (is {batchSize}).");
        }

        var encoding = queues["messageEncoding"] ?? "base64";
        return new QueueHostSettings(
            batchSize,
            queues.GetValue("newBatchThreshold", batchSize / 2),
            queues.GetValue("maxDequeueCount", 5L),
            queues.GetValue("visibilityTimeout", TimeSpan.Zero),
            queues.GetValue("maxPollingInterval", TimeSpan.FromMinutes(1)),
            configuration.GetValue("LocalHost:Queues:MessageLease", TimeSpan.FromMinutes(10)),
            encoding.ToLowerInvariant() switch
            {
                "base64" => QueueMessageEncoding.Base64,
                "none" => QueueMessageEncoding.None,
                _ => throw new InvalidOperationException($"host.json extensions.queues.messageEncoding must be 'base64' or 'none' (is '{encoding}')."),
            });
    }
}
