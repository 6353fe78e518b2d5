using Microsoft.Extensions.Logging;

namespace FunctionsAuth.Sweeping;

/// <summary>Refreshes due sessions ahead of expiry (the timer-triggered sweeper).</summary>
public sealed class Sweeper
{
    private readonly ILogger<Sweeper> logger;

    internal Sweeper(ILogger<Sweeper> logger) => this.logger = logger;

    public Task RunAsync(CancellationToken cancellationToken)
    {
        _ = logger;
        return Task.CompletedTask;
    }
}
