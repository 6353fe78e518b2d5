using FunctionsAuth.Configuration;
using FunctionsAuth.Sweeping;
using Microsoft.Azure.Functions.Worker;

namespace FunctionsAuth.Functions;

/// <summary>Refreshes every active session ahead of expiry, on the <c>SweeperSchedule</c> app setting's schedule.</summary>
public sealed class SweeperFunction(ISweeper sweeper)
{
    [Function("Sweeper")]
    public Task Run(
        [TimerTrigger("%" + SweeperOptions.ScheduleSetting + "%")] TimerInfo timer,
        CancellationToken cancellationToken) =>
        sweeper.RunAsync(cancellationToken);
}
