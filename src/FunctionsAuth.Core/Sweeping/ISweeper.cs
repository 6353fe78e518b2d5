namespace FunctionsAuth.Sweeping;

/// <summary>The timer-triggered sweeper, as the function class calls it. The implementation stays internal; DI builds it.</summary>
public interface ISweeper
{
    /// <summary>
    /// One run: sweeps in process or hands the due sessions to the work-item queue (docs/SWEEPER.md). Sessions that failed with an exception are reported together at the end (<see cref="AggregateException"/>),
    /// after every other session was handled; cancellation ends the run once the sessions already at the provider are saved.
    /// </summary>
    Task RunAsync(CancellationToken cancellationToken);
}
