using BenchmarkDotNet.Running;
using FunctionsAuth.Benchmarks;

// `storage-cost` measures storage transactions (a console report); anything else goes to BenchmarkDotNet.
if (args is ["storage-cost", ..])
{
    return await StorageCostReport.RunAsync(args[1..]);
}

BenchmarkSwitcher.FromAssembly(typeof(SweeperThroughputBenchmarks).Assembly).Run(args);
return 0;
