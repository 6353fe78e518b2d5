using System.Diagnostics;
using System.Text;

namespace FunctionsAuth.Benchmarks;

/// <summary>
/// Storage transactions of sweeper runs, counted on the wire: per refreshed session, and the reads of one run with
/// 1,000 due sessions among 10,000 and among 100,000 stored. Both tables are seeded first; then the runs of the two
/// are interleaved (side by side in one process), each with 1,000 freshly due sessions, and the medians reported.
/// </summary>
internal static class StorageCostReport
{
    private const int Due = 1_000;
    /// <summary>Stored sessions per scenario; <c>FUNCTIONSAUTH_BENCH_STORED</c> (comma-separated) overrides, for quick looks.</summary>
    private static readonly int[] StoredSizes = Environment.GetEnvironmentVariable("FUNCTIONSAUTH_BENCH_STORED") is { Length: > 0 } sizes
        ? [.. sizes.Split(',').Select(v => int.Parse(v, System.Globalization.CultureInfo.InvariantCulture))]
        : [10_000, 100_000];

    private static readonly int Parallelism = int.TryParse(Environment.GetEnvironmentVariable("FUNCTIONSAUTH_BENCH_PARALLELISM"), out var p) ? p : 32;

    public static async Task<int> RunAsync(string[] args)
    {
        var repetitions = args is [var count, ..] ? int.Parse(count, System.Globalization.CultureInfo.InvariantCulture) : 3;
        await using var provider = await FakeProvider.StartAsync(SweeperThroughputBenchmarks.ProviderLatency);
        var scenarios = new List<(int Stored, SweeperRig Rig, List<RunCost> Runs)>();
        try
        {
            foreach (var stored in StoredSizes)
            {
                var rig = await SweeperRig.CreateAsync(provider, Parallelism);
                scenarios.Add((stored, rig, []));
                var seeding = Stopwatch.StartNew();
                await rig.SeedAsync(due: 0, notDue: stored - Due);
                Console.WriteLine(Text.Invariant($"Seeded {stored - Due:N0} not-due sessions in {seeding.Elapsed.TotalSeconds:F1} s."));
            }

            for (var repetition = 0; repetition < repetitions; repetition++)
            {
                foreach (var (stored, rig, runs) in scenarios)
                {
                    await rig.SeedAsync(due: Due, notDue: 0);
                    var before = rig.Counter.Snapshot();
                    var (storageBefore, providerBefore, callsBefore) = (rig.Counter.Elapsed, rig.ProviderTimer.Elapsed, rig.ProviderTimer.Calls);
                    var elapsed = Stopwatch.StartNew();
                    var summary = await rig.Sweeper.SweepAsync(CancellationToken.None);
                    elapsed.Stop();
                    var counts = StorageCounter.Difference(rig.Counter.Snapshot(), before);
                    var run = new RunCost(stored + (repetition * Due), summary.Refreshed, summary.Errors, counts, elapsed.Elapsed);
                    runs.Add(run);
                    Console.WriteLine(Text.Invariant($"  stored {run.Stored,7:N0}: refreshed {run.Refreshed}, {run.Reads} reads, {run.Transactions} transactions in {run.Elapsed.TotalSeconds:F2} s ({Text.Join(counts)})"));
                    var calls = rig.ProviderTimer.Calls - callsBefore;
                    Console.WriteLine(Text.Invariant($"    mean storage request {(rig.Counter.Elapsed - storageBefore).TotalMilliseconds / run.Transactions:F1} ms, mean provider call {(rig.ProviderTimer.Elapsed - providerBefore).TotalMilliseconds / Math.Max(1, calls):F1} ms"));
                }
            }
        }
        finally
        {
            foreach (var (_, rig, _) in scenarios)
            {
                await rig.DisposeAsync();
            }

            Azurite.Stop();
        }

        var report = new StringBuilder()
            .Line($"Medians of {repetitions} runs per scenario, {Due:N0} due sessions each, parallelism {Parallelism}, provider latency {SweeperThroughputBenchmarks.ProviderLatency.TotalMilliseconds:F0} ms:")
            .AppendLine()
            .AppendLine("| Stored sessions | Refreshed | Storage reads | of which index query pages | Transactions | Transactions / refreshed session | Run time (s) |")
            .AppendLine("|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var (stored, _, runs) in scenarios)
        {
            report.Line($"| {stored:N0} | {Median(runs, r => r.Refreshed):F0} | {Median(runs, r => r.Reads):F0} | {Median(runs, r => r.QueryPages):F0} | {Median(runs, r => r.Transactions):F0} | {Median(runs, r => (double)r.Transactions / r.Refreshed):F2} | {Median(runs, r => r.Elapsed.TotalSeconds):F2} |");
        }

        var small = Median(scenarios[0].Runs, r => r.Reads);
        var large = Median(scenarios[^1].Runs, r => r.Reads);
        report.AppendLine().Line($"Reads at {scenarios[^1].Stored:N0} stored / reads at {scenarios[0].Stored:N0} stored: {large / small:F3}");
        report.AppendLine().Line($"Per refreshed session ({scenarios[0].Stored:N0} stored, median run): {Text.Join(PerSession(scenarios[0].Runs))}");
        Console.WriteLine();
        Console.WriteLine(report);
        return scenarios.All(s => s.Runs.All(r => r.Refreshed == Due && r.Errors == 0)) ? 0 : 1;
    }

    private static double Median(List<RunCost> runs, Func<RunCost, double> value)
    {
        var sorted = runs.Select(value).Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static Dictionary<string, int> PerSession(List<RunCost> runs)
    {
        var median = runs.OrderBy(r => r.Transactions).ElementAt(runs.Count / 2);
        return median.Counts.ToDictionary(p => p.Key, p => (int)Math.Round((double)p.Value * 100 / median.Refreshed), StringComparer.Ordinal);
    }

    private sealed record RunCost(int Stored, int Refreshed, int Errors, IReadOnlyDictionary<string, int> Counts, TimeSpan Elapsed)
    {
        public int Reads => Counts.Where(p => p.Key.EndsWith(".read", StringComparison.Ordinal) || p.Key.EndsWith(".query", StringComparison.Ordinal)).Sum(p => p.Value);

        public int QueryPages => Counts.GetValueOrDefault("index.query");

        public int Transactions => Counts.Values.Sum();
    }
}
