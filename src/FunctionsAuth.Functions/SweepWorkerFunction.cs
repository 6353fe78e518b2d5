using FunctionsAuth.Configuration;
using FunctionsAuth.Sweeping;
using Microsoft.Azure.Functions.Worker;

namespace FunctionsAuth.Functions;

/// <summary>
/// The queue side of the sweeper: the timer plans work items onto the <c>SweepQueueName</c> queue (through the host's
/// own storage connection, <c>AzureWebJobsStorage</c>), and the platform scales these out with its length. Retries,
/// visibility time-outs and the poison queue are the host's (host.json <c>extensions.queues</c>).
/// </summary>
public sealed class SweepWorkerFunction(ISweepWorker worker)
{
    /// <summary>Refreshes the due sessions of one work item; a throw has the host retry it, and after the last attempt park it in the poison queue.</summary>
    [Function("SweepWorker")]
    public Task Run(
        [QueueTrigger("%" + SweeperOptions.QueueNameSetting + "%")] string message,
        CancellationToken cancellationToken) =>
        worker.ProcessAsync(message, cancellationToken);

    /// <summary>Reports a work item the host gave up on (log and metric); its sessions stay due in the index, and the next run plans them again.</summary>
    [Function("SweepPoison")]
    public Task Poison(
        [QueueTrigger("%" + SweeperOptions.QueueNameSetting + "%-poison")] string message,
        CancellationToken cancellationToken) =>
        worker.ReportPoisonAsync(message, cancellationToken);
}
