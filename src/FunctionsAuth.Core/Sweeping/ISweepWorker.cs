namespace FunctionsAuth.Sweeping;

/// <summary>The queue side of a fanned-out sweep, as the queue-triggered functions call it. DI builds the implementation.</summary>
public interface ISweepWorker
{
    /// <summary>
    /// Refreshes the due sessions of one work item through the same coordinator, lease and due checks as an in-process
    /// run. Throws when the message is not a work item or a session failed with an exception, so the host retries it
    /// (and in the end moves it to the poison queue); a retry refreshes nothing twice.
    /// </summary>
    Task ProcessAsync(string message, CancellationToken cancellationToken);

    /// <summary>Reports a work item the host moved to the poison queue (log and metric). Its sessions stay in the due index.</summary>
    Task ReportPoisonAsync(string message, CancellationToken cancellationToken);
}
