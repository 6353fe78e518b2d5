using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FunctionsAuth.Api;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FunctionsAuth.Benchmarks;

/// <summary>
/// What a refresh on the request path costs on top of the provider's own time: <c>POST /api/auth/refresh</c> through
/// <see cref="IAuthApi"/> (the function classes' one call: the lease claim, the provider call, the rotated write) with
/// the sweeper off, every call due, against a provider answering in a fixed time; interleaved, in the same run, with
/// direct calls to that provider as a front end refreshing inline would make them, and with the storage floor (the
/// same storage sequence sent straight through the SDK, <see cref="StorageFloor"/>). Each refresh's time is split
/// (<see cref="RequestTimeline"/>) into storage on its critical path, the provider call and the rest. A latency
/// distribution, not a BenchmarkDotNet job: the unit is a whole request with real I/O (Azurite, loopback HTTP).
/// Options: <c>--rounds N</c> (40), <c>--provider-ms N</c> (150), <c>--min-threads N</c> (raise the thread pool's
/// minimum first: an experiment on thread injection during the burst), <c>--scoped</c> (in the same rounds, as many
/// sessions again refreshing a token for a narrower scope than their grant, <see cref="ScopedRequest"/>, their own
/// token refreshed first and not measured; as many holding a second scoped token too; then every
/// session's current token served from storage, scoped and unscoped: the storage requests and latency a scoped request
/// adds).
/// </summary>
internal static class RefreshLatencyReport
{
    /// <summary>The scope the scoped sessions ask for: one of the provider's <c>AllowedScopes</c>, narrower than that list.</summary>
    private const string ScopedRequest = "api";

    /// <summary>The other scope the two-scope sessions hold a token for (cached at registration, never asked for again).</summary>
    private const string OtherScope = "email";

    private const string PlainRefresh = "unscoped refresh";
    private const string ScopedRefresh = "scoped refresh";
    private const string TwoScopesRefresh = "scoped refresh, 2 scopes cached";
    private const string PlainServed = "unscoped served";
    private const string ScopedServed = "scoped served";

    public static async Task<int> RunAsync(string[] args)
    {
        var providerLatency = TimeSpan.FromMilliseconds(Option(args, "--provider-ms", 150));
        var rounds = Option(args, "--rounds", 40);
        var scopedToo = args.Contains("--scoped", StringComparer.Ordinal);
        int[] concurrency = [1, 20];
        if (Option(args, "--min-threads", 0) is > 0 and var minThreads)
        {
            // An experiment: does a thread pool that need not inject threads during the burst change the numbers?
            ThreadPool.GetMinThreads(out _, out var io);
            ThreadPool.SetMinThreads(minThreads, Math.Max(io, minThreads));
        }

        using var watch = new BurstWatch();
        await using var provider = await FakeProvider.StartAsync(providerLatency);
        var clock = new AdvancingClock();
        var (built, counter, floor) = await BuildAsync(provider, clock, concurrency.Max());
        await using var services = built;
        var api = services.GetRequiredService<IAuthApi>();
        using var direct = new HttpClient();
        var servers = new Dictionary<string, Uri>(StringComparer.Ordinal)
        {
            ["storage"] = services.GetRequiredService<Azure.Data.Tables.TableServiceClient>().Uri,
            ["provider"] = provider.TokenEndpoint,
        };

        Console.WriteLine($"Refresh on the request path vs a direct provider call; provider latency {providerLatency.TotalMilliseconds} ms, {rounds} rounds per row, Release={!IsDebug()}, thread-pool minimum {MinWorkerThreads()} threads, load average at start {LoadAverage()}");
        Console.WriteLine("| Front ends | Direct p50 | Direct p99 | FunctionsAuth p50 | FunctionsAuth p99 | Overhead p50 | Overhead p99 |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|");
        var storage = new List<string>();
        var rows = new List<Row>();
        foreach (var callers in concurrency)
        {
            var handles = new string[callers];
            var scopedHandles = new string[scopedToo ? callers : 0];
            var twoScopeHandles = new string[scopedToo ? callers : 0];
            for (var i = 0; i < callers; i++)
            {
                handles[i] = await RegisterAsync(api, clock);
            }

            for (var i = 0; i < scopedHandles.Length; i++)
            {
                scopedHandles[i] = await RegisterAsync(api, clock);
                twoScopeHandles[i] = await RegisterAsync(api, clock);
            }

            // The two-scope sessions first cache a token for another scope: from then on the session holds two scoped rows.
            await BurstAsync(api, twoScopeHandles, OtherScope, refreshed: true);

            // Warm-up: JIT, connection pools, the key ring, Azurite's tables; the scoped sessions' first use of their scope.
            watch.Reset();
            var threadsBefore = ThreadPool.ThreadCount;
            var warmUpRound = new Measured();
            await RoundAsync(new Rig(api, direct, provider, floor, clock, counter), new Sessions(handles, scopedHandles, twoScopeHandles), 0, warmUpRound);
            var warmUp = watch.Describe(servers);
            var measured = new Measured();
            watch.Reset();
            var serverCpuBefore = Azurite.TableServerCpu();
            var roundsStarted = Stopwatch.GetTimestamp();
            for (var round = 0; round < rounds; round++)
            {
                await RoundAsync(new Rig(api, direct, provider, floor, clock, counter), new Sessions(handles, scopedHandles, twoScopeHandles), round, measured);
            }

            var roundsTook = Stopwatch.GetElapsedTime(roundsStarted);
            var requests = measured.StorageRequests + measured.FloorRequests.Count;
            var serverCpu = Azurite.TableServerCpu() - serverCpuBefore is { } cpu
                ? Invariant($"Azurite's process used {cpu.TotalMilliseconds:F0} ms of CPU in {roundsTook.TotalMilliseconds:F0} ms of rounds ({cpu / roundsTook:P0} of a core, idle time included), {cpu.TotalMilliseconds / requests:F2} ms per storage request ({requests} requests, FunctionsAuth's and the floor's)")
                : "Azurite's CPU not measured (FUNCTIONSAUTH_BENCH_STORAGE)";

            // Storage requests per refresh, by table and kind (what each refresh sent, on its path or beside it).
            storage.Add($"{callers} front end(s): " + measured.PerRequest(PlainRefresh, rounds * callers));
            rows.Add(new Row(callers, measured, $"{callers} front end(s): {threadsBefore} thread-pool threads before the warm-up; warm-up round: {warmUp}; measured rounds: {watch.Describe(servers)}; {serverCpu}", warmUpRound));

            var (d50, d99) = (Percentile(measured.Direct, 0.50), Percentile(measured.Direct, 0.99));
            var (f50, f99) = (Percentile(measured.Ours, 0.50), Percentile(measured.Ours, 0.99));
            Console.WriteLine(Invariant($"| {callers} | {d50:F1} ms | {d99:F1} ms | {f50:F1} ms | {f99:F1} ms | {f50 - d50:F1} ms | {f99 - d99:F1} ms |"));
        }

        Console.WriteLine();
        Console.WriteLine("Storage requests per refresh (index.write runs beside the provider call):");
        storage.ForEach(Console.WriteLine);
        PrintDecomposition(rows);
        PrintFloor(rows);
        if (scopedToo)
        {
            PrintScoped(rows, rounds);
        }

        Console.WriteLine();
        Console.WriteLine("The process in each row's warm-up round and its measured rounds (FunctionsAuth, direct calls and floor alike):");
        rows.ForEach(row => Console.WriteLine(row.Process));
        Azurite.Stop();
        return 0;
    }

    /// <summary>Where each refresh's time went: storage on the critical path + the provider call + the rest = its total.</summary>
    private static void PrintDecomposition(List<Row> rows)
    {
        Console.WriteLine();
        Console.WriteLine("Where a refresh's time goes, as FunctionsAuth sees it (storage on the path: a storage request outstanding and no provider call; rest: neither, i.e. FunctionsAuth's CPU and scheduling). Each refresh's three parts add up to its total; shown for the refresh at p50 and at p99 of the total, then the median of each part over all refreshes:");
        Console.WriteLine("| Front ends | Refresh at p50: total = storage + provider + rest | Refresh at p99: total = storage + provider + rest | Medians: storage / provider / rest |");
        Console.WriteLine("|---:|---|---|---|");
        foreach (var row in rows)
        {
            var splits = row.Measured.Splits;
            Console.WriteLine(Invariant($"| {row.Callers} | {Sum(At(splits, 0.50))} | {Sum(At(splits, 0.99))} | {Percentile(splits.ConvertAll(s => s.Storage), 0.5):F1} / {Percentile(splits.ConvertAll(s => s.Provider), 0.5):F1} / {Percentile(splits.ConvertAll(s => s.Rest), 0.5):F1} ms |"));
        }

        Console.WriteLine();
        Console.WriteLine("Each storage request, send to response (p50 / p99), by table and HTTP method:");
        foreach (var row in rows)
        {
            Console.WriteLine($"{row.Callers} front end(s): FunctionsAuth {ByLabel(row.Measured.OurRequests)}; floor {ByLabel(row.Measured.FloorRequests)}");
        }

        static string Sum(RequestTimeline.Split s) => Invariant($"{s.Total:F1} = {s.Storage:F1} + {s.Provider:F1} + {s.Rest:F1} ms");
    }

    /// <summary>The scoped requests side by side with the unscoped ones of the same rounds.</summary>
    private static void PrintScoped(List<Row> rows, int rounds)
    {
        Console.WriteLine();
        Console.WriteLine($"Scoped (\"scope\":\"{ScopedRequest}\", one of the provider's AllowedScopes (the fake provider grants no scope), its token cached in the session's partition; \"2 scopes cached\": the session also holds a token for \"{OtherScope}\") vs unscoped, same rounds, their order rotating per round. Refresh on the request path; overhead against the direct calls of the same rounds; the time split as above:");
        Console.WriteLine("| Front ends | Request | p50 / p99 | Overhead p50 / p99 | Minus unscoped p50 / p99 | Medians: storage / provider / rest |");
        Console.WriteLine("|---:|---|---:|---:|---:|---|");
        foreach (var row in rows)
        {
            var m = row.Measured;
            var (d50, d99) = (Percentile(m.Direct, 0.50), Percentile(m.Direct, 0.99));
            var (u50, u99) = Totals(m.Phase(PlainRefresh));
            foreach (var name in new[] { PlainRefresh, ScopedRefresh, TwoScopesRefresh })
            {
                var phase = m.Phase(name);
                var (p50, p99) = Totals(phase);
                Console.WriteLine(Invariant($"| {row.Callers} | {name} | {p50:F1} / {p99:F1} ms | {p50 - d50:F1} / {p99 - d99:F1} ms | {p50 - u50:F1} / {p99 - u99:F1} ms | {Median(phase, s => s.Storage):F1} / {Median(phase, s => s.Provider):F1} / {Median(phase, s => s.Rest):F1} ms |"));
            }
        }

        Console.WriteLine();
        Console.WriteLine("Served from storage (no provider call; min_ttl 60 against a token stored with 3600 s), same rounds:");
        Console.WriteLine("| Callers | Unscoped p50 / p99 | Scoped p50 / p99 | Scoped minus unscoped p50 / p99 | Medians, unscoped: storage / rest | Medians, scoped: storage / rest |");
        Console.WriteLine("|---:|---:|---:|---:|---|---|");
        foreach (var row in rows)
        {
            var (plain, scoped) = (row.Measured.Phase(PlainServed), row.Measured.Phase(ScopedServed));
            var ((u50, u99), (s50, s99)) = (Totals(plain), Totals(scoped));
            Console.WriteLine(Invariant($"| {row.Callers} | {u50:F1} / {u99:F1} ms | {s50:F1} / {s99:F1} ms | {s50 - u50:F1} / {s99 - u99:F1} ms | {Median(plain, s => s.Storage):F1} / {Median(plain, s => s.Rest):F1} ms | {Median(scoped, s => s.Storage):F1} / {Median(scoped, s => s.Rest):F1} ms |"));
        }

        string[] phases = [PlainRefresh, ScopedRefresh, TwoScopesRefresh, PlainServed, ScopedServed];
        Console.WriteLine();
        Console.WriteLine("Storage requests per request, by table and kind (batch: one entity group transaction, POST $batch; query: a query of the session's partition), measured rounds; \"first use\": the warm-up round, each session's first request for that scope:");
        foreach (var row in rows)
        {
            var requests = rounds * row.Callers;
            Console.WriteLine($"{row.Callers} front end(s): " + string.Join("; ", phases.Select(p => $"{p}: {row.Measured.PerRequest(p, requests)}")
                .Concat(new[] { ScopedRefresh, TwoScopesRefresh }.Select(p => $"{p}, first use: {row.WarmUp.PerRequest(p, row.Callers)}"))));
        }

        Console.WriteLine();
        Console.WriteLine("Each storage request, send to response (p50 / p99), by table and HTTP method:");
        foreach (var row in rows)
        {
            Console.WriteLine($"{row.Callers} front end(s): " + string.Join("; ", phases.Select(p => $"{p}: {ByLabel(row.Measured.Phase(p).Requests)}")));
        }

        static (double P50, double P99) Totals(Phase phase) =>
            (Percentile(phase.Splits.ConvertAll(s => s.Total), 0.50), Percentile(phase.Splits.ConvertAll(s => s.Total), 0.99));
        static double Median(Phase phase, Func<RequestTimeline.Split, double> part) => Percentile(phase.Splits.ConvertAll(s => part(s)), 0.50);
    }

    /// <summary>The floor side by side with FunctionsAuth's storage on the path and its overhead.</summary>
    private static void PrintFloor(List<Row> rows)
    {
        Console.WriteLine();
        Console.WriteLine("Storage floor: the same callers each sending read, merge (If-Match), replace (If-Match) of a ~2 KB row straight through the SDK, no FunctionsAuth, no provider, in the same rounds:");
        Console.WriteLine("| Front ends | Floor p50 | Floor p99 | FunctionsAuth storage on path p50 | p99 | Overhead p50 | p99 | Overhead minus floor p50 | p99 |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var row in rows)
        {
            var m = row.Measured;
            var (l50, l99) = (Percentile(m.Floor, 0.50), Percentile(m.Floor, 0.99));
            var (s50, s99) = (Percentile(m.Splits.ConvertAll(s => s.Storage), 0.50), Percentile(m.Splits.ConvertAll(s => s.Storage), 0.99));
            var (o50, o99) = (Percentile(m.Ours, 0.50) - Percentile(m.Direct, 0.50), Percentile(m.Ours, 0.99) - Percentile(m.Direct, 0.99));
            Console.WriteLine(Invariant($"| {row.Callers} | {l50:F1} ms | {l99:F1} ms | {s50:F1} ms | {s99:F1} ms | {o50:F1} ms | {o99:F1} ms | {o50 - l50:F1} ms | {o99 - l99:F1} ms |"));
        }

        // A burst keeps the storage server busy from its first request to its last answer: requests over that time is
        // the rate it serves them at (on Azurite, one Node thread).
        foreach (var row in rows)
        {
            var burst = Percentile(row.Measured.FloorBursts, 0.50);
            var sent = row.Measured.FloorRequests.Count / row.Measured.FloorBursts.Count;
            Console.WriteLine(Invariant($"Floor burst, {row.Callers} caller(s): {sent} requests answered in {burst:F1} ms (median over rounds): {sent / burst * 1000:F0} requests/s."));
        }
    }

    private static RequestTimeline.Split At(List<RequestTimeline.Split> splits, double p)
    {
        var sorted = splits.OrderBy(s => s.Total).ToArray();
        return sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
    }

    private static string ByLabel(List<RequestTimeline.Interval> requests) => string.Join(", ", requests
        .GroupBy(r => r.Label, StringComparer.Ordinal)
        .OrderBy(g => g.Key, StringComparer.Ordinal)
        .Select(g => Invariant($"{g.Key} {Percentile([.. g.Select(r => r.Milliseconds)], 0.50):F1} / {Percentile([.. g.Select(r => r.Milliseconds)], 0.99):F1} ms{(g.Max(r => r.RequestBytes) is > 0 and var bytes ? $" ({bytes} B sent)" : "")}")));

    /// <summary>
    /// Every front end refreshes its own session at once (and, with scoped sessions, each of those its scoped token at
    /// once, before or after: the order alternates per round); then the same number of direct provider calls at once;
    /// then the same number of callers send the storage floor's sequence at once; then, with scoped sessions, every
    /// session's token is served from storage at once, unscoped and scoped (alternating too). Each burst's storage
    /// requests are counted into <paramref name="into"/> under its phase.
    /// </summary>
    private static async Task RoundAsync(Rig rig, Sessions sessions, int round, Measured into)
    {
        // Two hours on: every stored token has expired, so each call below refreshes at the provider.
        rig.Clock.Advance(TimeSpan.FromHours(2));
        (string Phase, string[] Handles, string? Scope)[] refreshes = sessions.Scoped.Length == 0
            ? [(PlainRefresh, sessions.Plain, null)]
            : [(PlainRefresh, sessions.Plain, null), (ScopedRefresh, sessions.Scoped, ScopedRequest), (TwoScopesRefresh, sessions.TwoScopes, ScopedRequest)];
        if (sessions.Scoped.Length > 0)
        {
            // Not measured: the scoped sessions' own tokens are refreshed first, as the sweeper keeps them, so a scoped
            // refresh below meets a session whose own token is current and only the scoped one is due.
            await BurstAsync(rig.Api, [.. sessions.Scoped, .. sessions.TwoScopes], scope: null, refreshed: true);
        }

        foreach (var (phase, handles, scope) in Rotated(refreshes, round))
        {
            into.Add(phase, await CountedAsync(rig, into, phase, () => BurstAsync(rig.Api, handles, scope, refreshed: true)));
        }

        var theirs = await Task.WhenAll(sessions.Plain.Select(_ => TimeAsync(async () =>
        {
            using var response = await rig.Direct.PostAsync(rig.Provider.TokenEndpoint, new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "refresh_token",
                ["refresh_token"] = "direct-" + Guid.NewGuid().ToString("N"),
                ["client_id"] = "bench-app",
                ["client_secret"] = "bench-secret",
            }));
            await response.Content.ReadAsByteArrayAsync();
            response.EnsureSuccessStatusCode();
        })));
        var burstStarted = Stopwatch.GetTimestamp();
        var floors = await Task.WhenAll(sessions.Plain.Select((_, i) => RequestTimeline.MeasureAsync(() => rig.Floor.RefreshSequenceAsync(i))));
        var burst = Stopwatch.GetElapsedTime(burstStarted).TotalMilliseconds;
        into.Direct.AddRange(theirs);
        into.Floor.AddRange(floors.Select(f => f.Split.Total));
        into.FloorRequests.AddRange(floors.SelectMany(f => f.Timeline.Storage));
        into.FloorBursts.Add(burst);

        // The common case: the tokens just stored, served without a provider call.
        (string Phase, string[] Handles, string? Scope)[] served = sessions.Scoped.Length == 0 ? [] : [(PlainServed, sessions.Plain, null), (ScopedServed, sessions.Scoped, ScopedRequest)];
        foreach (var (phase, handles, scope) in Rotated(served, round))
        {
            into.Add(phase, await CountedAsync(rig, into, phase, () => BurstAsync(rig.Api, handles, scope, refreshed: false)));
        }

        // Each kind of request goes first in turn, so none always meets a queue another left behind.
        static IEnumerable<T> Rotated<T>(T[] items, int round) => items.Skip(round % Math.Max(items.Length, 1)).Concat(items.Take(round % Math.Max(items.Length, 1)));
    }

    /// <summary>Every handle's <c>POST /api/auth/refresh</c> at once, each checked to have refreshed (or not) as intended.</summary>
    private static Task<(RequestTimeline.Split Split, RequestTimeline Timeline)[]> BurstAsync(IAuthApi api, string[] handles, string? scope, bool refreshed) =>
        Task.WhenAll(handles.Select(handle => RequestTimeline.MeasureAsync(async () =>
        {
            var scopeMember = scope is null ? "" : $",\"scope\":\"{scope}\"";
            var result = await api.RefreshAsync(Body($$"""{"session":"{{handle}}","min_ttl":60{{scopeMember}}}"""), FunctionsAuth.Callers.CallerCredentials.None, CancellationToken.None);
            var body = result.Body is null ? "" : Encoding.UTF8.GetString(result.Body);
            if (result.Status != 200 || !body.Contains(refreshed ? "\"refreshed\":true" : "\"refreshed\":false", StringComparison.Ordinal)
                || (scope is not null && !body.Contains($"\"scope\":\"{scope}\"", StringComparison.Ordinal)))
            {
                throw new InvalidOperationException($"/refresh answered {result.Status} without the {(refreshed ? "refresh" : "stored token")}{(scope is null ? "" : " for the scope")} it was to measure: the measurement would be wrong.");
            }
        })));

    /// <summary>Runs a burst and adds the storage requests sent meanwhile to <paramref name="into"/> under <paramref name="phase"/>.</summary>
    private static async Task<T> CountedAsync<T>(Rig rig, Measured into, string phase, Func<Task<T>> burst)
    {
        var before = rig.Counter.Snapshot();
        var result = await burst();
        into.Count(phase, StorageCounter.Difference(rig.Counter.Snapshot(), before));
        return result;
    }

    private static async Task<string> RegisterAsync(IAuthApi api, AdvancingClock clock)
    {
        var expired = clock.GetUtcNow().AddMinutes(-1).ToUnixTimeSeconds();
        var result = await api.CreateSessionAsync(Body($$"""{"provider":"{{SweeperRig.ProviderName}}","refresh_token":"seed-{{Guid.NewGuid():N}}","access_token":"seed","expires_at":{{expired}}}"""), FunctionsAuth.Callers.CallerCredentials.None, CancellationToken.None);
        if (result.Status != 201)
        {
            throw new InvalidOperationException($"Registration answered {result.Status}.");
        }

        using var document = JsonDocument.Parse(result.Body);
        return document.RootElement.GetProperty("session").GetString()!;
    }

    private static async Task<(ServiceProvider Services, StorageCounter Counter, StorageFloor Floor)> BuildAsync(FakeProvider provider, AdvancingClock clock, int floorRows)
    {
        var suffix = Guid.NewGuid().ToString("N")[..10];
        var connectionString = await Azurite.GetConnectionStringAsync();
        var counter = new StorageCounter("latdue" + suffix);
        var clientOptions = FunctionsAuthServiceCollectionExtensions.TableClientOptionsForRequests();
        clientOptions.AddPolicy(counter, Azure.Core.HttpPipelinePosition.PerRetry);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["FunctionsAuth:Storage:ConnectionString"] = connectionString,
            ["FunctionsAuth:Storage:SessionsTable"] = "latsessions" + suffix,
            ["FunctionsAuth:Storage:DueIndexTable"] = "latdue" + suffix,
            ["FunctionsAuth:Secrets:token-encryption-key"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
            ["FunctionsAuth:Secrets:client-secret"] = "bench-secret",
            [$"FunctionsAuth:Providers:{SweeperRig.ProviderName}:Kind"] = "Oidc",
            [$"FunctionsAuth:Providers:{SweeperRig.ProviderName}:TokenEndpoint"] = provider.TokenEndpoint.AbsoluteUri,
            [$"FunctionsAuth:Providers:{SweeperRig.ProviderName}:ClientId"] = "bench-app",
            [$"FunctionsAuth:Providers:{SweeperRig.ProviderName}:ClientSecretName"] = "client-secret",
            [$"FunctionsAuth:Providers:{SweeperRig.ProviderName}:ClientAuthentication"] = "ClientSecretPost",

            // What the scoped sessions may ask for (the fake provider grants no scope of its own): read only by scoped requests.
            [$"FunctionsAuth:Providers:{SweeperRig.ProviderName}:AllowedScopes"] = $"openid {ScopedRequest} email",
            ["AzureWebJobs.Sweeper.Disabled"] = "true",
        }).Build();
        var collection = new ServiceCollection();
        collection.AddSingleton<IConfiguration>(configuration);
        collection.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Warning).AddSimpleConsole());
        collection.AddSingleton<TimeProvider>(clock);
        collection.AddSingleton(new Azure.Data.Tables.TableServiceClient(connectionString, clientOptions));
        collection.AddFunctionsAuth();
        collection.AddHttpClient(OAuth.OAuthClient.HttpClientName).AddHttpMessageHandler(() => new ProviderTimingHandler());
        var services = collection.BuildServiceProvider();
        await services.GetRequiredService<Storage.SessionStore>().EnsureTablesAsync(CancellationToken.None);

        // The floor's client is built like the app's (same options, same kind of counting policy), on its own table.
        var floorOptions = FunctionsAuthServiceCollectionExtensions.TableClientOptionsForRequests();
        floorOptions.AddPolicy(new StorageCounter("latdue" + suffix), Azure.Core.HttpPipelinePosition.PerRetry);
        var floor = await StorageFloor.CreateAsync(new Azure.Data.Tables.TableServiceClient(connectionString, floorOptions), "latfloor" + suffix, floorRows);
        return (services, counter, floor);
    }

    private static async Task<double> TimeAsync(Func<Task> call)
    {
        var started = Stopwatch.GetTimestamp();
        await call();
        return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    }

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>The 1- and 5-minute load averages (Linux), so a run says how quiet the machine was.</summary>
    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(" / ", File.ReadAllText("/proc/loadavg").Split(' ').Take(2)) : "n/a";

    private static int MinWorkerThreads()
    {
        ThreadPool.GetMinThreads(out var worker, out _);
        return worker;
    }

    private static MemoryStream Body(string json) => new(Encoding.UTF8.GetBytes(json));

    private static int Option(string[] args, string name, int fallback) =>
        Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;

    private static bool IsDebug()
    {
#if DEBUG
        return true;
#else
        return false;
#endif
    }

    /// <summary>A row's samples, in milliseconds: each refresh's total and split, the direct calls, the floor sequences.</summary>
    private sealed class Measured
    {
        /// <summary>The unscoped refreshes' totals.</summary>
        public List<double> Ours => Splits.ConvertAll(s => s.Total);

        public List<RequestTimeline.Split> Splits => Phase(PlainRefresh).Splits;

        public List<RequestTimeline.Interval> OurRequests => Phase(PlainRefresh).Requests;

        public List<double> Direct { get; } = [];

        public List<double> Floor { get; } = [];

        public List<RequestTimeline.Interval> FloorRequests { get; } = [];

        /// <summary>Each round's floor burst, first send to last answer.</summary>
        public List<double> FloorBursts { get; } = [];

        private Dictionary<string, Phase> Phases { get; } = new(StringComparer.Ordinal);

        /// <summary>FunctionsAuth's storage requests on the measured calls' timelines, every kind of request.</summary>
        public int StorageRequests => Phases.Values.Sum(p => p.Requests.Count);

        /// <summary>A kind of request's samples (empty when it was not measured).</summary>
        public Phase Phase(string name) => Phases.TryGetValue(name, out var phase) ? phase : Phases[name] = new();

        public void Add(string phase, (RequestTimeline.Split Split, RequestTimeline Timeline)[] burst)
        {
            Phase(phase).Splits.AddRange(burst.Select(b => b.Split));
            Phase(phase).Requests.AddRange(burst.SelectMany(b => b.Timeline.Storage));
        }

        /// <summary>Storage requests sent during each phase's bursts (on the path or beside it), by table and kind.</summary>
        private Dictionary<string, Dictionary<string, int>> Counts { get; } = new(StringComparer.Ordinal);

        public void Count(string phase, Dictionary<string, int> sent)
        {
            var counts = Counts.TryGetValue(phase, out var known) ? known : Counts[phase] = new(StringComparer.Ordinal);
            foreach (var (label, n) in sent)
            {
                counts[label] = counts.GetValueOrDefault(label) + n;
            }
        }

        /// <summary>A phase's storage requests per request, e.g. <c>sessions.read 2, sessions.batch 1</c>.</summary>
        public string PerRequest(string phase, int requests) => string.Join(", ", (Counts.GetValueOrDefault(phase) ?? [])
            .Where(p => p.Value > 0)
            .OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => Invariant($"{p.Key} {(double)p.Value / requests:0.##}")));
    }

    private sealed record Row(int Callers, Measured Measured, string Process, Measured WarmUp);

    /// <summary>One kind of request's samples: each call's split and its storage requests.</summary>
    private sealed class Phase
    {
        public List<RequestTimeline.Split> Splits { get; } = [];

        public List<RequestTimeline.Interval> Requests { get; } = [];
    }

    /// <summary>The sessions of one row: unscoped, scoped (one scope), scoped with a second scope cached; the last two empty without <c>--scoped</c>.</summary>
    private sealed record Sessions(string[] Plain, string[] Scoped, string[] TwoScopes);

    /// <summary>What a round sends its requests through.</summary>
    private sealed record Rig(IAuthApi Api, HttpClient Direct, FakeProvider Provider, StorageFloor Floor, AdvancingClock Clock, StorageCounter Counter);

    /// <summary>Real time plus an offset the report moves forward, so every stored token is due without waiting.</summary>
    private sealed class AdvancingClock : TimeProvider
    {
        private long offsetTicks;

        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + TimeSpan.FromTicks(Interlocked.Read(ref offsetTicks));

        public void Advance(TimeSpan by) => Interlocked.Add(ref offsetTicks, by.Ticks);
    }
}
