using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Globalization;

namespace FunctionsAuth.Benchmarks;

/// <summary>
/// What the process does around a burst besides the calls themselves: thread-pool threads and the most work items
/// seen queued for it (sampled at every storage request's send), and, from the runtime's own <c>System.Net.Http</c>
/// events, the TCP connections opened per server port (a cold pool pays a handshake per connection) and the time
/// requests waited for a connection.
/// </summary>
internal sealed class BurstWatch : EventListener
{
    private static long maxPending;

    private readonly ConcurrentDictionary<int, int> connectionsByPort = new();
    private long queuedRequests;
    private long queuedTicks;

    /// <summary>Notes the thread pool's queue length now; cheap enough for every request.</summary>
    public static void Sample()
    {
        var pending = ThreadPool.PendingWorkItemCount;
        var seen = Interlocked.Read(ref maxPending);
        while (pending > seen && Interlocked.CompareExchange(ref maxPending, pending, seen) != seen)
        {
            seen = Interlocked.Read(ref maxPending);
        }
    }

    /// <summary>Starts a new measurement: counts and the queue maximum from zero.</summary>
    public void Reset()
    {
        Interlocked.Exchange(ref maxPending, 0);
        connectionsByPort.Clear();
        Interlocked.Exchange(ref queuedRequests, 0);
        Interlocked.Exchange(ref queuedTicks, 0);
    }

    public int ConnectionsTo(Uri server) => connectionsByPort.GetValueOrDefault(server.Port);

    /// <summary>One line for the report: the pool, connections to each named server, waits for a connection.</summary>
    public string Describe(IReadOnlyDictionary<string, Uri> servers) => string.Create(
        CultureInfo.InvariantCulture,
        $"{ThreadPool.ThreadCount} threads after, at most {Interlocked.Read(ref maxPending)} work items queued at a storage send; new connections: {string.Join(", ", servers.Select(s => $"{s.Key} {ConnectionsTo(s.Value)}"))}; requests that waited for a connection {Interlocked.Read(ref queuedRequests)} ({TimeSpan.FromTicks(Interlocked.Read(ref queuedTicks)).TotalMilliseconds:0.#} ms in all)");

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "System.Net.Http")
        {
            EnableEvents(eventSource, EventLevel.Informational);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        switch (eventData.EventName)
        {
            case "ConnectionEstablished" when Payload(eventData, "port") is int port:
                connectionsByPort.AddOrUpdate(port, 1, static (_, n) => n + 1);
                break;
            case "RequestLeftQueue" when Payload(eventData, "timeOnQueueMilliseconds") is double waited:
                Interlocked.Increment(ref queuedRequests);
                Interlocked.Add(ref queuedTicks, TimeSpan.FromMilliseconds(waited).Ticks);
                break;
        }
    }

    private static object? Payload(EventWrittenEventArgs eventData, string name) =>
        eventData.PayloadNames?.IndexOf(name) is >= 0 and var i && eventData.Payload is { } payload && i < payload.Count ? payload[i] : null;
}
