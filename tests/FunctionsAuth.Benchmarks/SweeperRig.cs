using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Data.Tables;
using FunctionsAuth.Configuration;
using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;
using FunctionsAuth.Sweeping;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Benchmarks;

/// <summary>
/// The sweeper wired as in the app (<c>AddFunctionsAuth</c>), against Azurite and a fake provider with a fixed latency,
/// with every storage request counted. Sessions are seeded straight into the tables, encrypted like real ones.
/// </summary>
internal sealed class SweeperRig : IAsyncDisposable
{
    public const string ProviderName = "fake";

    private readonly ServiceProvider services;

    private SweeperRig(ServiceProvider services, StorageCounter counter, TableServiceClient tables, string sessionsTable, string dueTable)
    {
        this.services = services;
        Counter = counter;
        Tables = tables;
        SessionsTable = sessionsTable;
        DueTable = dueTable;
    }

    public StorageCounter Counter { get; }

    /// <summary>Provider calls as the sweeper sees them (the fake's fixed latency plus HTTP on loopback).</summary>
    public ProviderTimer ProviderTimer { get; private init; } = new();

    public TableServiceClient Tables { get; }

    public string SessionsTable { get; }

    public string DueTable { get; }

    public Sweeper Sweeper => services.GetRequiredService<Sweeper>();

    public IServiceProvider Services => services;

    public static Task<SweeperRig> CreateAsync(FakeProvider provider, int parallelism) => CreateAsync(provider, parallelism, Guid.NewGuid().ToString("N")[..10], null, null);

    /// <summary>
    /// One instance: rigs created with the same <paramref name="suffix"/> share their tables, as instances of one
    /// deployment do; <paramref name="settings"/> add to the configuration, <paramref name="configure"/> to the services.
    /// </summary>
    public static async Task<SweeperRig> CreateAsync(FakeProvider provider, int parallelism, string suffix, IReadOnlyDictionary<string, string?>? settings, Action<IServiceCollection>? configure)
    {
        var connectionString = await Azurite.GetConnectionStringAsync();
        var sessionsTable = "benchsessions" + suffix;
        var dueTable = "benchdue" + suffix;
        var counter = new StorageCounter(dueTable);
        var clientOptions = new TableClientOptions();
        clientOptions.AddPolicy(counter, HttpPipelinePosition.PerRetry);
        var tables = new TableServiceClient(connectionString, clientOptions);

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["FunctionsAuth:Storage:ConnectionString"] = connectionString,
            ["FunctionsAuth:Storage:SessionsTable"] = sessionsTable,
            ["FunctionsAuth:Storage:DueIndexTable"] = dueTable,
            ["FunctionsAuth:Secrets:token-encryption-key"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
            ["FunctionsAuth:Secrets:client-secret"] = "bench-secret",
            [$"FunctionsAuth:Providers:{ProviderName}:Kind"] = "Oidc",
            [$"FunctionsAuth:Providers:{ProviderName}:TokenEndpoint"] = provider.TokenEndpoint.AbsoluteUri,
            [$"FunctionsAuth:Providers:{ProviderName}:ClientId"] = "bench-app",
            [$"FunctionsAuth:Providers:{ProviderName}:ClientSecretName"] = "client-secret",
            [$"FunctionsAuth:Providers:{ProviderName}:ClientAuthentication"] = "ClientSecretPost",
            ["FunctionsAuth:Sweeper:Parallelism"] = parallelism.ToString(CultureInfo.InvariantCulture),

            // The limit measured is parallelism / latency: the provider rate limit must not be the bottleneck.
            ["FunctionsAuth:Sweeper:ProviderRequestsPerSecond"] = "10000",
        }).AddInMemoryCollection(settings ?? new Dictionary<string, string?>()).Build();

        var collection = new ServiceCollection();
        collection.AddSingleton<IConfiguration>(configuration);
        collection.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Warning).AddSimpleConsole());
        collection.AddSingleton(tables);
        configure?.Invoke(collection);
        collection.AddFunctionsAuth();
        var providerTimer = new ProviderTimer();
        collection.AddHttpClient(OAuth.OAuthClient.HttpClientName).AddHttpMessageHandler(() => new ProviderTimingHandler(providerTimer));
        var services = collection.BuildServiceProvider();
        await services.GetRequiredService<SessionStore>().EnsureTablesAsync(CancellationToken.None);
        return new SweeperRig(services, counter, tables, sessionsTable, dueTable) { ProviderTimer = providerTimer };
    }

    /// <summary>
    /// Adds <paramref name="due"/> sessions due five minutes ago and <paramref name="notDue"/> due in 50 to 60 minutes
    /// (spread over ten index buckets). Session rows are one partition each, so they go one by one (in parallel); index
    /// rows go in batches of at most 100 per bucket partition.
    /// </summary>
    public async Task SeedAsync(int due, int notDue)
    {
        var crypto = services.GetRequiredService<SessionCrypto>();
        var options = services.GetRequiredService<IOptions<FunctionsAuthOptions>>().Value;
        var now = DateTimeOffset.UtcNow;
        var sessions = new SessionEntity[due + notDue];
        for (var i = 0; i < sessions.Length; i++)
        {
            var expiresAt = i < due ? now + TimeSpan.FromMinutes(5) : now + TimeSpan.FromHours(1) + TimeSpan.FromSeconds(i % 600);
            var key = SessionKey.FromHandleBytes(RandomNumberGenerator.GetBytes(32)).Value;
            var session = new SessionEntity
            {
                PartitionKey = key,
                RowKey = key,
                Provider = ProviderName,
                Status = SessionStatus.Active,
                StatusChangedAt = now - TimeSpan.FromHours(1),
                TokenType = "Bearer",
                CreatedAt = now - TimeSpan.FromHours(1),
                LastUsedAt = now - TimeSpan.FromMinutes(5),
                LastRefreshedAt = now - TimeSpan.FromHours(1),
                AccessTokenIssuedAt = expiresAt - TimeSpan.FromHours(1),
                AccessTokenExpiresAt = expiresAt,
            };
            await crypto.WriteTokensAsync(session, "seeded-access-" + i.ToString(CultureInfo.InvariantCulture), "seeded-refresh-" + Guid.NewGuid().ToString("N"), CancellationToken.None);
            session.DueAt = RefreshSchedule.DueAt(session, options);
            sessions[i] = session;
        }

        var sessionsClient = Tables.GetTableClient(SessionsTable);
        var dueClient = Tables.GetTableClient(DueTable);
        var batches = sessions
            .GroupBy(s => SessionStore.Bucket(s.DueAt!.Value))
            .SelectMany(bucket => bucket.Chunk(100).Select(chunk => chunk
                .Select(s => new TableTransactionAction(TableTransactionActionType.UpsertReplace, new TableEntity(bucket.Key, s.PartitionKey)))
                .ToList()));
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = 32 };

        // Index first, as the app writes it.
        await Parallel.ForEachAsync(batches, parallel, async (batch, ct) => await dueClient.SubmitTransactionAsync(batch, ct));
        await Parallel.ForEachAsync(sessions, parallel, async (session, ct) => await sessionsClient.AddEntityAsync(session, ct));
    }

    public async ValueTask DisposeAsync()
    {
        await DeleteTablesAsync();
        await services.DisposeAsync();
    }

    public async Task DeleteTablesAsync()
    {
        await Tables.DeleteTableAsync(SessionsTable);
        await Tables.DeleteTableAsync(DueTable);
    }

    /// <summary>An instance that shares the tables with another and is disposed without deleting them.</summary>
    public ValueTask DisposeServicesAsync() => services.DisposeAsync();
}

/// <summary>Counts storage requests (each retry too: each is a billed transaction) by table and kind, and times them.</summary>
internal sealed class StorageCounter(string dueTable) : HttpPipelinePolicy
{
    private readonly ConcurrentDictionary<string, int> counts = new(StringComparer.Ordinal);
    private long elapsedTicks;

    public IReadOnlyDictionary<string, int> Snapshot() => new Dictionary<string, int>(counts, StringComparer.Ordinal);

    /// <summary>Total time storage requests took, summed over concurrent requests.</summary>
    public TimeSpan Elapsed => TimeSpan.FromTicks(Interlocked.Read(ref elapsedTicks));

    public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        Count(message, Table(message));
        var started = Stopwatch.GetTimestamp();
        ProcessNext(message, pipeline);
        Interlocked.Add(ref elapsedTicks, Stopwatch.GetElapsedTime(started).Ticks);
    }

    public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        var table = Table(message);
        Count(message, table);
        BurstWatch.Sample();
        var started = Stopwatch.GetTimestamp();
        await ProcessNextAsync(message, pipeline);
        var ended = Stopwatch.GetTimestamp();
        Interlocked.Add(ref elapsedTicks, Stopwatch.GetElapsedTime(started, ended).Ticks);
        var path = message.Request.Uri.Path;
        var label = IsBatch(message) ? $"{table}.POST $batch"
            : path.EndsWith("()", StringComparison.Ordinal) ? $"{table}.{message.Request.Method.Method} query"
            : path.Contains(ScopedTokenEntity.Separator, StringComparison.Ordinal) || path.Contains("%7E", StringComparison.OrdinalIgnoreCase) ? $"{table}.{message.Request.Method.Method} scoped row"
            : $"{table}.{message.Request.Method.Method}";
        RequestTimeline.Current?.AddStorage(label, started, ended, message.Request.Content?.TryComputeLength(out var bytes) == true ? bytes : 0);
    }

    private void Count(HttpMessage message, string table)
    {
        var path = message.Request.Uri.Path;
        var method = message.Request.Method.Method;
        var kind = IsBatch(message) ? "batch"
            : method == "GET" && path.EndsWith("()", StringComparison.Ordinal) ? "query"
            : method == "GET" ? "read"
            : method == "DELETE" ? "delete"
            : "write";
        counts.AddOrUpdate($"{table}.{kind}", 1, static (_, n) => n + 1);
    }

    private static bool IsBatch(HttpMessage message) => message.Request.Uri.Path.EndsWith("$batch", StringComparison.Ordinal);

    /// <summary>
    /// The table a request is for. An entity group transaction (<c>POST $batch</c>) names no table in its address, only in
    /// its parts: its body is read for the due-index table's name (the body is buffered, as the SDK's retries need).
    /// </summary>
    private string Table(HttpMessage message)
    {
        if (!IsBatch(message))
        {
            return message.Request.Uri.Path.Contains(dueTable, StringComparison.Ordinal) ? "index" : "sessions";
        }

        using var body = new MemoryStream();
        message.Request.Content?.WriteTo(body, CancellationToken.None);
        return Encoding.UTF8.GetString(body.GetBuffer(), 0, (int)body.Length).Contains(dueTable, StringComparison.Ordinal) ? "index" : "sessions";
    }

    public static Dictionary<string, int> Difference(IReadOnlyDictionary<string, int> after, IReadOnlyDictionary<string, int> before) =>
        after.ToDictionary(p => p.Key, p => p.Value - before.GetValueOrDefault(p.Key), StringComparer.Ordinal);
}

internal sealed class ProviderTimer
{
    private long calls;
    private long elapsedTicks;

    public long Calls => Interlocked.Read(ref calls);

    public TimeSpan Elapsed => TimeSpan.FromTicks(Interlocked.Read(ref elapsedTicks));

    public void Record(TimeSpan elapsed)
    {
        Interlocked.Increment(ref calls);
        Interlocked.Add(ref elapsedTicks, elapsed.Ticks);
    }
}

/// <summary>Times each provider call (send to response body read) into <paramref name="timer"/>, if any, and the current <see cref="RequestTimeline"/>.</summary>
internal sealed class ProviderTimingHandler(ProviderTimer? timer = null) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var response = await base.SendAsync(request, cancellationToken);
        await response.Content.LoadIntoBufferAsync(cancellationToken);
        var ended = Stopwatch.GetTimestamp();
        timer?.Record(Stopwatch.GetElapsedTime(started, ended));
        RequestTimeline.Current?.AddProvider(started, ended);
        return response;
    }
}

/// <summary>A token endpoint on loopback that answers every request with new tokens after a fixed latency.</summary>
internal sealed class FakeProvider : IAsyncDisposable
{
    private readonly WebApplication app;
    private int requests;

    private FakeProvider(WebApplication app, Uri tokenEndpoint)
    {
        this.app = app;
        TokenEndpoint = tokenEndpoint;
    }

    public Uri TokenEndpoint { get; }

    public int Requests => Volatile.Read(ref requests);

    public static async Task<FakeProvider> StartAsync(TimeSpan latency)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        FakeProvider? self = null;
        app.MapPost("/token", async context =>
        {
            Interlocked.Increment(ref self!.requests);
            await Task.Delay(latency);
            context.Response.ContentType = "application/json";
            var id = Guid.NewGuid().ToString("N");
            await context.Response.WriteAsync($$"""{"access_token":"fake-access-{{id}}","token_type":"Bearer","expires_in":3600,"refresh_token":"fake-refresh-{{id}}"}""");
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        self = new FakeProvider(app, new Uri(new Uri(address + "/"), "token"));
        return self;
    }

    public async ValueTask DisposeAsync() => await app.DisposeAsync();
}

/// <summary>Azurite (npm, in memory) on a free loopback port, once per process; <c>FUNCTIONSAUTH_BENCH_STORAGE</c> overrides it.</summary>
internal static class Azurite
{
    private const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private static readonly Lazy<Task<string>> Started = new(StartAsync);
    private static Process? process;
    private static Process? queueProcess;

    public static Task<string> GetConnectionStringAsync() => Started.Value;

    /// <summary>CPU time the table server's process has used so far; null when the benchmarks did not start it.</summary>
    public static TimeSpan? TableServerCpu()
    {
        if (process is not { HasExited: false } running)
        {
            return null;
        }

        running.Refresh();
        return running.TotalProcessorTime;
    }

    public static void Stop()
    {
        try
        {
            process?.Kill(entireProcessTree: true);
            queueProcess?.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
    }

    private static async Task<string> StartAsync()
    {
        if (Environment.GetEnvironmentVariable("FUNCTIONSAUTH_BENCH_STORAGE") is { Length: > 0 } configured)
        {
            return configured;
        }

        var root = RepositoryRoot();
        var azurite = Path.Combine(root, "node_modules", ".bin", "azurite-table");
        if (!File.Exists(azurite))
        {
            using var npm = Process.Start(new ProcessStartInfo("npm", "ci --no-audit --no-fund") { WorkingDirectory = root }) ?? throw new InvalidOperationException("npm did not start.");
            await npm.WaitForExitAsync();
        }

        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        var portText = port.ToString(CultureInfo.InvariantCulture);
        var queuePort = FreePort();
        queueProcess = StartQuiet(Path.Combine(root, "node_modules", ".bin", "azurite-queue"), "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--queueHost", "127.0.0.1", "--queuePort", queuePort.ToString(CultureInfo.InvariantCulture));
        process = Process.Start(new ProcessStartInfo(azurite)
        {
            ArgumentList = { "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--tableHost", "127.0.0.1", "--tablePort", portText },
            WorkingDirectory = Directory.CreateTempSubdirectory("azurite-bench-").FullName,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException("Azurite did not start.");
        process.OutputDataReceived += static (_, _) => { };
        process.ErrorDataReceived += static (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Stop();

        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                break;
            }
            catch (SocketException) when (waited.Elapsed < TimeSpan.FromSeconds(60) && !process.HasExited)
            {
                await Task.Delay(100);
            }
        }

        await WaitForPortAsync(queuePort, queueProcess);
        return $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AccountKey};TableEndpoint=http://127.0.0.1:{portText}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{queuePort.ToString(CultureInfo.InvariantCulture)}/devstoreaccount1;";
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static Process StartQuiet(string file, params string[] arguments)
    {
        var info = new ProcessStartInfo(file)
        {
            WorkingDirectory = Directory.CreateTempSubdirectory("azurite-bench-").FullName,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var started = Process.Start(info) ?? throw new InvalidOperationException($"{Path.GetFileName(file)} did not start.");
        started.OutputDataReceived += static (_, _) => { };
        started.ErrorDataReceived += static (_, _) => { };
        started.BeginOutputReadLine();
        started.BeginErrorReadLine();
        return started;
    }

    private static async Task WaitForPortAsync(int port, Process owner)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (waited.Elapsed < TimeSpan.FromSeconds(60) && !owner.HasExited)
            {
                await Task.Delay(100);
            }
        }
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "FunctionsAuth.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("Run the benchmarks from inside the repository (FunctionsAuth.sln not found).");
    }
}

internal static class Text
{
    public static string Join(IReadOnlyDictionary<string, int> counts) =>
        counts.Count == 0 ? "-" : string.Join(", ", counts.Where(p => p.Value != 0).OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Key} {p.Value}")));

    public static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    public static StringBuilder Line(this StringBuilder builder, FormattableString text) => builder.AppendLine(Invariant(text));
}
