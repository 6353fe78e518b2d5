using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Storage.Queues;
using FunctionsAuth.Sweeping;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FunctionsAuth.Benchmarks;

/// <summary>
/// The fanned-out sweep with 1, 2 and 3 instances side by side in one process: each instance is the app's own services
/// (<c>AddFunctionsAuth</c>) over the same tables and queue, the first one plans (the timer's run), and every instance
/// works items the way the host's queue listener does with host.json's settings (one message at a time, the next
/// fetched while it runs: two in hand). The provider is a fake with a fixed latency; its rate limit is set out of the
/// way so the run measures what the instances do (the limit itself is held by the tests). Storage requests are counted
/// on the wire for the tables and the queue, polling of an empty queue included.
/// </summary>
internal static class FanOutReport
{
    private static readonly TimeSpan Latency = TimeSpan.FromMilliseconds(100);

    public static async Task<int> RunAsync(string[] args)
    {
        var sessions = Option(args, "--sessions", 1_200);
        var rounds = Option(args, "--rounds", 2);
        var parallelism = Option(args, "--parallelism", 8);
        var hostCounts = new[] { 1, 2, 3 };
        await using var provider = await FakeProvider.StartAsync(Latency);
        var results = hostCounts.ToDictionary(h => h, _ => new List<Result>());
        try
        {
            for (var round = 0; round < rounds; round++)
            {
                foreach (var hosts in hostCounts)
                {
                    var result = await RunScenarioAsync(provider, hosts, sessions, parallelism);
                    results[hosts].Add(result);
                    Console.WriteLine(Text.Invariant($"  {hosts} host(s): {result.Refreshed} refreshed in {result.Elapsed.TotalSeconds:F2} s = {result.PerSecond:F0}/s (plan {result.Plan.TotalSeconds:F2} s, {result.Items} items, shares {string.Join("/", result.Shares)}), {result.Transactions} transactions ({Text.Join(result.Counts)})"));
                }
            }
        }
        finally
        {
            Azurite.Stop();
        }

        var report = new StringBuilder()
            .Line($"Medians of {rounds} rounds; {sessions:N0} due sessions per run, two items of parallelism {parallelism} in hand per instance, provider latency {Latency.TotalMilliseconds:F0} ms (ceiling {2 * parallelism * 1000 / Latency.TotalMilliseconds:F0}/s per instance):")
            .AppendLine()
            .AppendLine("| Instances | Sessions/s | vs 1 instance | Run time (s) | of which planning (s) | Work items | Table transactions / session | Queue transactions / session | Total / session |")
            .AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        var single = Median(results[1], r => r.PerSecond);
        foreach (var hosts in hostCounts)
        {
            var runs = results[hosts];
            report.Line($"| {hosts} | {Median(runs, r => r.PerSecond):F0} | {Median(runs, r => r.PerSecond) / single:F2}x | {Median(runs, r => r.Elapsed.TotalSeconds):F2} | {Median(runs, r => r.Plan.TotalSeconds):F2} | {Median(runs, r => r.Items):F0} | {Median(runs, r => r.TablePerSession):F2} | {Median(runs, r => r.QueuePerSession):F3} | {Median(runs, r => (double)r.Transactions / r.Refreshed):F2} |");
        }

        Console.WriteLine();
        Console.WriteLine(report);
        return results.Values.All(runs => runs.All(r => r.Refreshed == sessions && r.Errors == 0)) ? 0 : 1;
    }

    private static async Task<Result> RunScenarioAsync(FakeProvider provider, int hostCount, int sessions, int parallelism)
    {
        var suffix = Guid.NewGuid().ToString("N")[..10];
        var queueName = "bench-" + suffix;
        var queueCounter = new QueueCounter();
        var queueOptions = new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 };
        queueOptions.AddPolicy(queueCounter, HttpPipelinePosition.PerRetry);
        var queue = new QueueServiceClient(await Azurite.GetConnectionStringAsync(), queueOptions).GetQueueClient(queueName);
        var settings = new Dictionary<string, string?>
        {
            ["AzureWebJobsStorage"] = await Azurite.GetConnectionStringAsync(),
            ["SweepQueueName"] = queueName,

            // One deployment: every instance decrypts what the others wrote.
            ["FunctionsAuth:Secrets:token-encryption-key"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
            ["FunctionsAuth:Sweeper:FanOut"] = "Queue",
            ["FunctionsAuth:Sweeper:MaxInstances"] = "3",
            ["FunctionsAuth:Sweeper:ProviderRequestsPerSecond"] = "3000",
            ["FunctionsAuth:Sweeper:Parallelism"] = parallelism.ToString(CultureInfo.InvariantCulture),
        };
        var rigs = new List<SweeperRig>();
        try
        {
            for (var i = 0; i < hostCount; i++)
            {
                rigs.Add(await SweeperRig.CreateAsync(provider, parallelism, suffix, settings, services => services.AddSingleton(sp => new SweepQueue(queue, sp.GetRequiredService<ILogger<SweepQueue>>()))));
            }

            await queue.CreateIfNotExistsAsync();
            await rigs[0].SeedAsync(due: sessions, notDue: 0);
            var tablesBefore = rigs.Select(r => r.Counter.Snapshot()).ToList();
            queueCounter.Reset();
            var requestsBefore = provider.Requests;
            var shares = new int[hostCount];
            var errors = 0;

            var watch = Stopwatch.StartNew();
            var plan = await rigs[0].Sweeper.PlanAsync(CancellationToken.None);
            var planned = watch.Elapsed;
            var remaining = plan.Items;
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (remaining == 0)
            {
                done.TrySetResult();
            }

            async Task WorkAsync(int host)
            {
                var worker = rigs[host].Services.GetRequiredService<ISweepWorker>();
                while (!done.Task.IsCompleted)
                {
                    var messages = (await queue.ReceiveMessagesAsync(1, TimeSpan.FromMinutes(5))).Value;
                    if (messages.Length == 0)
                    {
                        await Task.WhenAny(done.Task, Task.Delay(100));
                        continue;
                    }

                    var message = messages[0];
                    var before = provider.Requests;
                    try
                    {
                        await worker.ProcessAsync(message.Body.ToString(), CancellationToken.None);
                    }
                    catch (AggregateException)
                    {
                        Interlocked.Increment(ref errors);
                    }

                    await queue.DeleteMessageAsync(message.MessageId, message.PopReceipt);
                    if (Interlocked.Decrement(ref remaining) == 0)
                    {
                        done.TrySetResult();
                    }
                }
            }

            // Two items in hand per instance, as host.json's batchSize 1 + newBatchThreshold 1 gives.
            var workers = Enumerable.Range(0, hostCount).SelectMany(h => new[] { WorkAsync(h), WorkAsync(h) }).ToList();
            await done.Task;
            watch.Stop();
            await Task.WhenAll(workers);

            var refreshed = provider.Requests - requestsBefore;
            var tableCounts = rigs.Select((r, i) => StorageCounter.Difference(r.Counter.Snapshot(), tablesBefore[i])).ToList();
            for (var i = 0; i < hostCount; i++)
            {
                shares[i] = tableCounts[i].GetValueOrDefault("sessions.write") / 2;
            }

            var counts = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var (key, value) in tableCounts.SelectMany(c => c).Concat(queueCounter.Snapshot()))
            {
                counts[key] = counts.GetValueOrDefault(key) + value;
            }

            return new Result(refreshed, errors, plan.Items, watch.Elapsed, planned, counts, shares);
        }
        finally
        {
            if (rigs.Count > 0)
            {
                await rigs[0].DeleteTablesAsync();
            }

            foreach (var rig in rigs)
            {
                await rig.DisposeServicesAsync();
            }

            await queue.DeleteIfExistsAsync();
        }
    }

    private static int Option(string[] args, string name, int fallback)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
    }

    private static double Median(List<Result> runs, Func<Result, double> value)
    {
        var sorted = runs.Select(value).Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <param name="Shares">Refreshes per instance (its session writes halved: the lease claim and the rotated token).</param>
    private sealed record Result(int Refreshed, int Errors, int Items, TimeSpan Elapsed, TimeSpan Plan, IReadOnlyDictionary<string, int> Counts, int[] Shares)
    {
        public double PerSecond => Refreshed / Elapsed.TotalSeconds;

        public int Transactions => Counts.Values.Sum();

        public double QueuePerSession => (double)Counts.Where(p => p.Key.StartsWith("queue.", StringComparison.Ordinal)).Sum(p => p.Value) / Refreshed;

        public double TablePerSession => (double)Counts.Where(p => !p.Key.StartsWith("queue.", StringComparison.Ordinal)).Sum(p => p.Value) / Refreshed;
    }
}

/// <summary>Counts queue requests by kind (each retry too: each is a billed transaction).</summary>
internal sealed class QueueCounter : HttpPipelinePolicy
{
    private readonly ConcurrentDictionary<string, int> counts = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, int> Snapshot() => new Dictionary<string, int>(counts, StringComparer.Ordinal);

    public void Reset() => counts.Clear();

    public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        Count(message);
        ProcessNext(message, pipeline);
    }

    public override ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        Count(message);
        return ProcessNextAsync(message, pipeline);
    }

    private void Count(HttpMessage message)
    {
        var path = message.Request.Uri.Path;
        var method = message.Request.Method.Method;
        var kind = path.EndsWith("/messages", StringComparison.Ordinal)
            ? method == "POST" ? "send" : "receive"
            : path.Contains("/messages/", StringComparison.Ordinal)
                ? method == "DELETE" ? "delete" : "update"
                : message.Request.Uri.Query.Contains("comp=metadata", StringComparison.Ordinal) ? "properties" : "queue";
        counts.AddOrUpdate("queue." + kind, 1, static (_, n) => n + 1);
    }
}
