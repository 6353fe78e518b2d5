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
/// direct calls to that provider as a front end refreshing inline would make them. A latency distribution, not a
/// BenchmarkDotNet job: the unit is a whole request with real I/O (Azurite, loopback HTTP).
/// </summary>
internal static class RefreshLatencyReport
{
    public static async Task<int> RunAsync(string[] args)
    {
        var providerLatency = TimeSpan.FromMilliseconds(Option(args, "--provider-ms", 150));
        var rounds = Option(args, "--rounds", 40);
        int[] concurrency = [1, 20];
        await using var provider = await FakeProvider.StartAsync(providerLatency);
        var clock = new AdvancingClock();
        var (built, counter) = await BuildAsync(provider, clock);
        await using var services = built;
        var api = services.GetRequiredService<IAuthApi>();
        using var direct = new HttpClient();

        Console.WriteLine($"Refresh on the request path vs a direct provider call; provider latency {providerLatency.TotalMilliseconds} ms, {rounds} rounds per row, Release={!IsDebug()}");
        Console.WriteLine("| Front ends | Direct p50 | Direct p99 | FunctionsAuth p50 | FunctionsAuth p99 | Overhead p50 | Overhead p99 |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|");
        var storage = new List<string>();
        foreach (var callers in concurrency)
        {
            var handles = new string[callers];
            for (var i = 0; i < callers; i++)
            {
                handles[i] = await RegisterAsync(api, clock);
            }

            // Warm-up: JIT, connection pools, the key ring, Azurite's tables.
            await RoundAsync(api, direct, provider, clock, handles, measureInto: null);
            var ours = new List<double>();
            var theirs = new List<double>();
            var before = counter.Snapshot();
            for (var round = 0; round < rounds; round++)
            {
                await RoundAsync(api, direct, provider, clock, handles, (ours, theirs));
            }

            // Storage requests per refresh, by table and kind (what each refresh sent, on its path or beside it).
            var perRefresh = StorageCounter.Difference(counter.Snapshot(), before)
                .Where(p => p.Value > 0)
                .OrderBy(p => p.Key, StringComparer.Ordinal)
                .Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Key} {(double)p.Value / (rounds * callers):0.##}"));
            storage.Add($"{callers} front end(s): " + string.Join(", ", perRefresh));

            var (d50, d99) = (Percentile(theirs, 0.50), Percentile(theirs, 0.99));
            var (f50, f99) = (Percentile(ours, 0.50), Percentile(ours, 0.99));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {callers} | {d50:F1} ms | {d99:F1} ms | {f50:F1} ms | {f99:F1} ms | {f50 - d50:F1} ms | {f99 - d99:F1} ms |"));
        }

        Console.WriteLine();
        Console.WriteLine("Storage requests per refresh (index.write runs beside the provider call):");
        storage.ForEach(Console.WriteLine);
        Azurite.Stop();
        return 0;
    }

    /// <summary>Every front end refreshes its own session at once, then the same number of direct provider calls at once.</summary>
    private static async Task RoundAsync(IAuthApi api, HttpClient direct, FakeProvider provider, AdvancingClock clock, string[] handles, (List<double> Ours, List<double> Theirs)? measureInto)
    {
        // Two hours on: every stored token has expired, so each call below refreshes at the provider.
        clock.Advance(TimeSpan.FromHours(2));
        var ours = await Task.WhenAll(handles.Select(handle => TimeAsync(async () =>
        {
            var result = await api.RefreshAsync(Body($$"""{"session":"{{handle}}","min_ttl":60}"""), FunctionsAuth.Callers.CallerCredentials.None, CancellationToken.None);
            if (result.Status != 200 || !Encoding.UTF8.GetString(result.Body!).Contains("\"refreshed\":true", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"/refresh answered {result.Status} without a refresh: the measurement would be wrong.");
            }
        })));
        var theirs = await Task.WhenAll(handles.Select(_ => TimeAsync(async () =>
        {
            using var response = await direct.PostAsync(provider.TokenEndpoint, new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "refresh_token",
                ["refresh_token"] = "direct-" + Guid.NewGuid().ToString("N"),
                ["client_id"] = "bench-app",
                ["client_secret"] = "bench-secret",
            }));
            await response.Content.ReadAsByteArrayAsync();
            response.EnsureSuccessStatusCode();
        })));
        if (measureInto is { } into)
        {
            into.Ours.AddRange(ours);
            into.Theirs.AddRange(theirs);
        }
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

    private static async Task<(ServiceProvider Services, StorageCounter Counter)> BuildAsync(FakeProvider provider, AdvancingClock clock)
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
            ["AzureWebJobs.Sweeper.Disabled"] = "true",
        }).Build();
        var collection = new ServiceCollection();
        collection.AddSingleton<IConfiguration>(configuration);
        collection.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Warning).AddSimpleConsole());
        collection.AddSingleton<TimeProvider>(clock);
        collection.AddSingleton(new Azure.Data.Tables.TableServiceClient(connectionString, clientOptions));
        collection.AddFunctionsAuth();
        var services = collection.BuildServiceProvider();
        await services.GetRequiredService<Storage.SessionStore>().EnsureTablesAsync(CancellationToken.None);
        return (services, counter);
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

    /// <summary>Real time plus an offset the report moves forward, so every stored token is due without waiting.</summary>
    private sealed class AdvancingClock : TimeProvider
    {
        private long offsetTicks;

        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + TimeSpan.FromTicks(Interlocked.Read(ref offsetTicks));

        public void Advance(TimeSpan by) => Interlocked.Add(ref offsetTicks, by.Ticks);
    }
}
