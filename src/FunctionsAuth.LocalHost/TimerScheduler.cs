using Cronos;
using FunctionsAuth.Configuration;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FunctionsAuth.LocalHost;

/// <summary>Runs the timer functions on their NCRONTAB schedules (<c>%Setting%</c> resolved from configuration), one run at a time each.</summary>
internal sealed partial class TimerScheduler(
    FunctionCatalog catalog,
    IServiceScopeFactory scopes,
    IConfiguration configuration,
    TimeProvider time,
    ILogger<TimerScheduler> logger) : BackgroundService
{
    private (TimerFunction Timer, string Schedule, CronExpression Expression)[] schedules = [];

    /// <summary>
    /// Resolves and parses every schedule before the host reports started: a schedule that cannot run stops the start
    /// (and the process exits non-zero), where a failure inside <see cref="ExecuteAsync"/> would only stop the host.
    /// </summary>
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        schedules = catalog.Timers
            .Where(timer => !FunctionEndpoints.IsDisabled(configuration, timer.Name))
            .Select(timer =>
            {
                var schedule = ResolveSchedule(timer.Schedule, configuration);
                try
                {
                    return (timer, schedule, CronExpression.Parse(schedule, CronFormat.IncludeSeconds));
                }
                catch (CronFormatException ex)
                {
                    throw new InvalidOperationException($"Timer function {timer.Name}: schedule '{schedule}' ({timer.Schedule}) is not a six-field NCRONTAB expression.", ex);
                }
            })
            .ToArray();
        return base.StartAsync(cancellationToken);
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(schedules.Select(s => RunScheduleAsync(s.Timer, s.Schedule, s.Expression, stoppingToken)));

    /// <summary>A <c>%Setting%</c> schedule from configuration; the sweeper's setting falls back to its documented default, as the Functions app does.</summary>
    internal static string ResolveSchedule(string schedule, IConfiguration configuration)
    {
        if (schedule.Length > 2 && schedule[0] == '%' && schedule[^1] == '%')
        {
            var setting = schedule[1..^1];
            if (setting == SweeperOptions.ScheduleSetting)
            {
                return SweeperOptions.ResolveSchedule(configuration);
            }

            return configuration[setting] is { Length: > 0 } value
                ? value
                : throw new InvalidOperationException($"The timer schedule setting '{setting}' is not set.");
        }

        return schedule;
    }

    private async Task RunScheduleAsync(TimerFunction timer, string schedule, CronExpression expression, CancellationToken stoppingToken)
    {
        LogScheduled(logger, timer.Name, schedule);
        DateTime? last = null;
        if (timer.RunOnStartup)
        {
            await InvokeAsync(timer, last, stoppingToken);
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            var now = time.GetUtcNow().UtcDateTime;
            if (expression.GetNextOccurrence(now, TimeZoneInfo.Utc) is not { } next)
            {
                return;
            }

            try
            {
                await Task.Delay(next - now, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            await InvokeAsync(timer, last, stoppingToken);
            last = next;
        }
    }

    private async Task InvokeAsync(TimerFunction timer, DateTime? last, CancellationToken stoppingToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var instance = timer.Method.IsStatic ? null : ActivatorUtilities.CreateInstance(scope.ServiceProvider, timer.Type);
        var info = new TimerInfo { ScheduleStatus = new ScheduleStatus { Last = last ?? default, LastUpdated = time.GetUtcNow().UtcDateTime } };
        var arguments = timer.Method.GetParameters()
            .Select(p => p.ParameterType == typeof(TimerInfo) ? info : (object)stoppingToken)
            .ToArray();
        try
        {
            if (timer.Method.Invoke(instance, arguments) is Task task)
            {
                await task;
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            // As in the Functions host: a failed run is logged and the schedule goes on.
            LogRunFailed(logger, timer.Name, ex);
        }
    }

    [LoggerMessage(7000, LogLevel.Information, "Timer function {Function} scheduled: {Schedule} (UTC).")]
    private static partial void LogScheduled(ILogger logger, string function, string schedule);

    [LoggerMessage(7001, LogLevel.Error, "Timer function {Function} failed.")]
    private static partial void LogRunFailed(ILogger logger, string function, Exception exception);
}
