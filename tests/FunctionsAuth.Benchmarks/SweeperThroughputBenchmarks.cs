using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace FunctionsAuth.Benchmarks;

/// <summary>
/// Sessions refreshed per second by one sweeper run, against a provider answering in a fixed 50 ms, on Azurite.
/// The ceiling is parallelism / latency (320/s at 16, 640/s at 32). Each iteration seeds <see cref="DueSessions"/>
/// due sessions, then times one run that refreshes them all; one operation = one refreshed session.
/// </summary>
[Config(typeof(Config))]
public class SweeperThroughputBenchmarks
{
    public const int DueSessions = 640;
    public static readonly TimeSpan ProviderLatency = TimeSpan.FromMilliseconds(50);

    private FakeProvider provider = null!;
    private SweeperRig rig = null!;

    [Params(16, 32)]
    public int Parallelism { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        provider = FakeProvider.StartAsync(ProviderLatency).GetAwaiter().GetResult();
        rig = SweeperRig.CreateAsync(provider, Parallelism).GetAwaiter().GetResult();
    }

    [IterationSetup]
    public void SeedDueSessions() => rig.SeedAsync(DueSessions, notDue: 0).GetAwaiter().GetResult();

    [Benchmark(OperationsPerInvoke = DueSessions)]
    public async Task<int> RefreshDueSessions()
    {
        var summary = await rig.Sweeper.SweepAsync(CancellationToken.None);
        if (summary.Refreshed != DueSessions || summary.Errors != 0)
        {
            throw new InvalidOperationException(Text.Invariant($"Expected {DueSessions} refreshed, got {summary.Refreshed} ({summary.Errors} errors, {summary.Result})."));
        }

        return summary.Refreshed;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        rig.DisposeAsync().AsTask().GetAwaiter().GetResult();
        provider.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            // In process: Azurite and the fake provider live beside the sweeper, and no second build is needed.
            AddJob(Job.Default
                .WithToolchain(InProcessEmitToolchain.Instance)
                .WithStrategy(RunStrategy.Monitoring)
                .WithWarmupCount(1)
                .WithIterationCount(9)
                .WithInvocationCount(1)
                .WithUnrollFactor(1));
            AddColumnProvider(DefaultColumnProviders.Instance);
            AddColumn(StatisticColumn.Median, new SessionsPerSecondColumn());
            AddLogger(DefaultConfig.Instance.GetLoggers().ToArray());
            AddExporter(DefaultConfig.Instance.GetExporters().ToArray());
        }
    }

    /// <summary>Sessions per second from the median time per session, and that as a share of parallelism / latency.</summary>
    private sealed class SessionsPerSecondColumn : IColumn
    {
        public string Id => nameof(SessionsPerSecondColumn);

        public string ColumnName => "Sessions/s (median) [% of P/latency]";

        public bool AlwaysShow => true;

        public ColumnCategory Category => ColumnCategory.Custom;

        public int PriorityInCategory => 0;

        public bool IsNumeric => false;

        public UnitType UnitType => UnitType.Dimensionless;

        public string Legend => "Refreshed sessions per second from the median, and its share of the ceiling parallelism / 50 ms.";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            if (summary[benchmarkCase]?.ResultStatistics?.Median is not { } median || median <= 0 || benchmarkCase.Parameters["Parallelism"] is not int parallelism)
            {
                return "-";
            }

            var perSecond = 1e9 / median;
            var ceiling = parallelism / ProviderLatency.TotalSeconds;
            return string.Create(CultureInfo.InvariantCulture, $"{perSecond:F0} [{perSecond / ceiling:P0}]");
        }

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

        public bool IsAvailable(Summary summary) => true;
    }
}
