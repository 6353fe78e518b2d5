using System.Threading.Channels;
using Azure;
using FunctionsAuth.Configuration;
using FunctionsAuth.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Events;

/// <summary>
/// Puts every emitted event onto the events queue, off the caller's path: <see cref="Emit"/> only hands the event to a
/// bounded in-memory buffer, and this background service sends from there. A send that fails (after the SDK's
/// retries) is logged and counted, and the event is dropped: the refresh that caused it has already answered. On
/// shutdown the buffer is drained for as long as the host allows.
/// </summary>
internal sealed class SessionEventPublisher : BackgroundService, ISessionEvents
{
    private readonly EventsQueue queue;
    private readonly FunctionsAuthMetrics metrics;
    private readonly ILogger<SessionEventPublisher> logger;
    private readonly Uri source;
    private readonly Channel<SessionEvent> buffer;
    private long pending;

    public SessionEventPublisher(EventsQueue queue, FunctionsAuthMetrics metrics, IOptions<FunctionsAuthOptions> options, ILogger<SessionEventPublisher> logger)
    {
        this.queue = queue;
        this.metrics = metrics;
        this.logger = logger;
        source = new Uri(options.Value.Events.Source, UriKind.RelativeOrAbsolute);

        // Wait mode, so that TryWrite says "full" (DropWrite would report success for an event it drops).
        buffer = Channel.CreateBounded<SessionEvent>(new BoundedChannelOptions(options.Value.Events.BufferCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
    }

    public void Emit(SessionEvent sessionEvent)
    {
        Interlocked.Increment(ref pending);
        if (!buffer.Writer.TryWrite(sessionEvent))
        {
            Interlocked.Decrement(ref pending);
            Log.EventDropped(logger, sessionEvent.Type, sessionEvent.Id, sessionEvent.Session);
            metrics.EventPublished(sessionEvent.Kind, "dropped");
            return;
        }

        Log.EventEmitted(logger, sessionEvent.Type, sessionEvent.Id, sessionEvent.Session);
    }

    /// <summary>Returns once every event emitted so far has been sent or given up on (tests; a host's shutdown drains by itself).</summary>
    internal async Task WhenIdleAsync(CancellationToken cancellationToken)
    {
        while (Interlocked.Read(ref pending) > 0)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(10), cancellationToken);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // No new events; the loop drains what is buffered and ends.
        buffer.Writer.TryComplete();
        await base.StopAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await queue.EnsureExistsAsync(stoppingToken);
        }
        catch (Exception ex) when (ex is RequestFailedException or AggregateException or HttpRequestException or IOException)
        {
            // Storage may come up after us: the first send creates the queue if it is still missing.
            Log.QueueUnavailableAtStart(logger, queue.Client.Name, ex.GetType().Name);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }

        // Not cancelled by stoppingToken: a stopping host completes the buffer instead, and what is in it is still sent.
        await foreach (var sessionEvent in buffer.Reader.ReadAllAsync(CancellationToken.None))
        {
            try
            {
                await SendAsync(sessionEvent);
            }
            finally
            {
                Interlocked.Decrement(ref pending);
            }
        }
    }

    private async Task SendAsync(SessionEvent sessionEvent)
    {
        try
        {
            var body = SessionEventFormat.Encode(sessionEvent, source);
            try
            {
                await queue.Client.SendMessageAsync(body, cancellationToken: CancellationToken.None);
            }
            catch (RequestFailedException ex) when (ex.ErrorCode == "QueueNotFound")
            {
                await queue.EnsureExistsAsync(CancellationToken.None);
                await queue.Client.SendMessageAsync(body, cancellationToken: CancellationToken.None);
            }

            metrics.EventPublished(sessionEvent.Kind, "enqueued");
            Log.EventEnqueued(logger, sessionEvent.Type, sessionEvent.Id, sessionEvent.Session);
        }
        catch (Exception ex)
        {
            // Storage away, or anything unforeseen: this event is lost (at-least-once starts on the queue), and says so.
            // The exception's type only: an SDK message can quote the request.
            metrics.EventPublished(sessionEvent.Kind, "failed");
            Log.EventEnqueueFailed(logger, sessionEvent.Type, sessionEvent.Id, sessionEvent.Session, ex is RequestFailedException failed ? $"{ex.GetType().Name} {failed.Status}" : ex.GetType().Name);
        }
    }
}
