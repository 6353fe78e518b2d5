using BenchmarkDotNet.Running;
using FunctionsAuth.Benchmarks;

// `storage-cost` measures storage transactions, `refresh-latency` a refresh on the request path, `sweep-fanout` the
// queue fan-out with 1, 2 and 3 instances and `refresh-cadence` provider calls per token lifetime (console reports);
// anything else goes to BenchmarkDotNet.
if (args is ["storage-cost", ..])
{
    return await StorageCostReport.RunAsync(args[1..]);
}

if (args is ["sweep-fanout", ..])
{
    return await FanOutReport.RunAsync(args[1..]);
}

if (args is ["refresh-cadence", ..])
{
    return RefreshCadenceReport.Run();
}

if (args is ["refresh-latency", ..])
{
    return await RefreshLatencyReport.RunAsync(args[1..]);
}

BenchmarkSwitcher.FromAssembly(typeof(SweeperThroughputBenchmarks).Assembly).Run(args);
return 0;
