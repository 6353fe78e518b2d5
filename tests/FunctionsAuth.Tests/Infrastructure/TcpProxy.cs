using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace FunctionsAuth.Tests.Infrastructure;

/// <summary>
/// A loopback TCP proxy in front of Azurite that a test cuts and restores: cut, it resets every open connection and
/// refuses new ones (what storage does to a client when its network goes away); restored, it listens on the same port
/// again. Killing Azurite instead would lose writes it had acknowledged (ENVIRONMENT-NOTES.md), and a fault test must
/// only lose what the code under test loses.
/// It can also cut at one chosen request: it reads the request line of each HTTP request the client sends (the Azure
/// SDK writes a request's headers in one piece) and cuts before or just after forwarding the first one that matches.
/// Or it lets that request through and loses its answer (<see cref="DropResponseTo"/>): the server has processed it,
/// the client sees the connection reset mid-response, as after a crash or a network fault on the way back.
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly IPEndPoint target;
    private readonly ConcurrentDictionary<int, (Socket Client, Socket Server)> connections = new();
    private readonly Lock gate = new();
    private TcpListener? listener;
    private Socket? placeholder;
    private bool disposed;
    private Trigger? trigger;
    private DropTrigger? dropTrigger;
    private int nextConnection;

    private TcpProxy(IPEndPoint target, int port)
    {
        this.target = target;
        Port = port;
    }

    public int Port { get; }

    public bool IsCut { get; private set; }

    /// <summary>
    /// Rewrites the <c>Host</c> header of each HTTP request to the target's address, so a server that takes its own
    /// name from it (OpenIddict's issuer) does not see the proxy's port.
    /// </summary>
    public bool RewriteHost { get; set; }

    /// <summary>Holds every answer from the server this long before passing it on (a slow provider, for time-outs).</summary>
    public TimeSpan DelayResponses { get; set; }

    public static TcpProxy Start(int targetPort)
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var proxy = new TcpProxy(new IPEndPoint(IPAddress.Loopback, targetPort), port);
        proxy.Listen();
        return proxy;
    }

    /// <summary>Starts a proxy in front of one endpoint of <paramref name="connectionString"/> (<paramref name="service"/>: Table or Queue) and rewrites it to go through the proxy.</summary>
    public static (TcpProxy Proxy, string ConnectionString) InFrontOf(string connectionString, string service = "Table")
    {
        var setting = service + "Endpoint=";
        var endpoint = connectionString.Split(';').Single(part => part.StartsWith(setting, StringComparison.Ordinal))[setting.Length..];
        var port = new Uri(endpoint).Port;
        var proxy = Start(port);
        return (proxy, connectionString.Replace($"127.0.0.1:{port}/", $"127.0.0.1:{proxy.Port}/", StringComparison.Ordinal));
    }

    /// <summary>Resets every open connection and refuses new ones until <see cref="Restore"/>.</summary>
    public void Cut()
    {
        lock (gate)
        {
            IsCut = true;
            listener?.Stop();
            listener = null;
            HoldPort();
        }

        foreach (var id in connections.Keys)
        {
            if (connections.TryRemove(id, out var pair))
            {
                Reset(pair.Client);
                Reset(pair.Server);
            }
        }
    }

    public void Restore()
    {
        lock (gate)
        {
            if (!IsCut)
            {
                return;
            }

            IsCut = false;
            placeholder?.Dispose();
            placeholder = null;
            Listen();
        }
    }

    /// <summary>
    /// While cut, the port stays bound but not listening: connections are still refused, and no other test's server
    /// (Kestrel on port 0) can be given the port meanwhile, which would answer storage requests with its own 404s.
    /// </summary>
    private void HoldPort()
    {
        if (disposed || placeholder is not null)
        {
            return;
        }

        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, Port));
            placeholder = socket;
        }
        catch (SocketException)
        {
            // Taken already in the instant between the listener's stop and this bind: the old behaviour, no worse.
            socket.Dispose();
        }
    }

    /// <summary>Cuts for <paramref name="duration"/> when a request whose request line contains <paramref name="match"/> is sent.</summary>
    /// <param name="occurrence">Which matching request, counted from now (1: the next one).</param>
    /// <param name="afterForwarding">Forward the request first (storage applies it, its answer is lost), or cut before it reaches storage.</param>
    /// <returns>Completes when the cut has happened.</returns>
    public Task CutOnRequest(string match, TimeSpan duration, int occurrence = 1, bool afterForwarding = false)
    {
        var armed = new Trigger(match, occurrence, duration, afterForwarding);
        Volatile.Write(ref trigger, armed);
        return armed.Fired.Task;
    }

    /// <summary>
    /// Forwards the next request whose request line contains <paramref name="match"/>, then resets its connection
    /// when the server's answer starts to come back, after passing on only its first few bytes: the server has done the
    /// work, the client gets no answer (and, having read part of one, does not send the request again by itself).
    /// </summary>
    /// <returns>Completes when an answer has been dropped.</returns>
    public Task DropResponseTo(string match)
    {
        var armed = new DropTrigger(match);
        Volatile.Write(ref dropTrigger, armed);
        return armed.Dropped.Task;
    }

    private void Listen()
    {
        var socket = new TcpListener(IPAddress.Loopback, Port);
        socket.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        socket.Start();
        listener = socket;
        _ = AcceptLoopAsync(socket);
    }

    private async Task AcceptLoopAsync(TcpListener socket)
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await socket.AcceptSocketAsync();
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            _ = HandleAsync(client);
        }
    }

    private async Task HandleAsync(Socket client)
    {
        var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await server.ConnectAsync(target);
        }
        catch (SocketException)
        {
            Reset(client);
            server.Dispose();
            return;
        }

        var id = Interlocked.Increment(ref nextConnection);
        connections[id] = (client, server);
        if (IsCut)
        {
            Cut();
            return;
        }

        var state = new ConnectionState(client, server);
        await Task.WhenAll(PumpAsync(client, server, requests: true, state), PumpAsync(server, client, requests: false, state));
        connections.TryRemove(id, out _);
        client.Dispose();
        server.Dispose();
    }

    /// <summary>Copies one direction of a connection; the client's side (<paramref name="requests"/>) is read for the trigger.</summary>
    private async Task PumpAsync(Socket from, Socket to, bool requests, ConnectionState state)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }

                if (!requests && Volatile.Read(ref state.DropNextResponse) is { } drop)
                {
                    // The server answered: pass on a fragment of the status line, then reset both ends.
                    await to.SendAsync(buffer.AsMemory(0, Math.Min(read, 9)), SocketFlags.None);
                    Reset(state.Client);
                    Reset(state.Server);
                    drop.Dropped.TrySetResult();
                    return;
                }

                if (requests && InspectForDrop(buffer.AsSpan(0, read)) is { } dropping)
                {
                    Volatile.Write(ref state.DropNextResponse, dropping);
                }

                if (!requests && DelayResponses > TimeSpan.Zero)
                {
                    await Task.Delay(DelayResponses);
                }

                var fire = requests ? Inspect(buffer.AsSpan(0, read)) : null;
                if (fire is { AfterForwarding: false })
                {
                    Fire(fire);
                    return;
                }

                if (requests && RewriteHost && RequestLine(buffer.AsSpan(0, read)) is not null)
                {
                    var rewritten = Encoding.Latin1.GetBytes(Encoding.Latin1.GetString(buffer, 0, read)
                        .Replace($"\r\nHost: 127.0.0.1:{Port}\r\n", $"\r\nHost: 127.0.0.1:{target.Port}\r\n", StringComparison.OrdinalIgnoreCase));
                    await to.SendAsync(rewritten, SocketFlags.None);
                }
                else
                {
                    await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
                }

                if (fire is not null)
                {
                    // Give storage the request before the answer's way back is cut.
                    await Task.Delay(50);
                    Fire(fire);
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }

    private DropTrigger? InspectForDrop(ReadOnlySpan<byte> chunk)
    {
        var armed = Volatile.Read(ref dropTrigger);
        if (armed is null || RequestLine(chunk) is not { } line || !line.Contains(armed.Match, StringComparison.Ordinal))
        {
            return null;
        }

        return Interlocked.CompareExchange(ref dropTrigger, null, armed) == armed ? armed : null;
    }

    private static string? RequestLine(ReadOnlySpan<byte> chunk)
    {
        var end = chunk.IndexOf("\r\n"u8);
        if (end <= 0)
        {
            return null;
        }

        var line = Encoding.ASCII.GetString(chunk[..Math.Min(end, 512)]);
        return line.EndsWith("HTTP/1.1", StringComparison.Ordinal) ? line : null;
    }

    private Trigger? Inspect(ReadOnlySpan<byte> chunk)
    {
        var end = chunk.IndexOf("\r\n"u8);
        if (end <= 0)
        {
            return null;
        }

        var line = Encoding.ASCII.GetString(chunk[..Math.Min(end, 512)]);
        if (!line.EndsWith("HTTP/1.1", StringComparison.Ordinal))
        {
            return null;
        }

        var armed = Volatile.Read(ref trigger);
        if (armed is null || !line.Contains(armed.Match, StringComparison.Ordinal) || Interlocked.Decrement(ref armed.Remaining) != 0)
        {
            return null;
        }

        Interlocked.CompareExchange(ref trigger, null, armed);
        return armed;
    }

    private void Fire(Trigger fired)
    {
        Cut();
        fired.Fired.TrySetResult();
        _ = Task.Delay(fired.Duration).ContinueWith(_ => Restore(), TaskScheduler.Default);
    }

    private static void Reset(Socket socket)
    {
        try
        {
            // Linger 0: close with RST, as a vanished network or a crashed peer looks to the client.
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }

    public ValueTask DisposeAsync()
    {
        lock (gate)
        {
            disposed = true;
        }

        Cut();
        lock (gate)
        {
            placeholder?.Dispose();
            placeholder = null;
        }

        return ValueTask.CompletedTask;
    }

    private sealed class Trigger(string match, int occurrence, TimeSpan duration, bool afterForwarding)
    {
        public string Match { get; } = match;

        public int Remaining = occurrence;

        public TimeSpan Duration { get; } = duration;

        public bool AfterForwarding { get; } = afterForwarding;

        public TaskCompletionSource Fired { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class DropTrigger(string match)
    {
        public string Match { get; } = match;

        public TaskCompletionSource Dropped { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class ConnectionState(Socket client, Socket server)
    {
        public Socket Client { get; } = client;

        public Socket Server { get; } = server;

        public DropTrigger? DropNextResponse;
    }
}
