namespace FunctionsAuth.Sweeping;

/// <summary>What one sweeper run did. <see cref="Exceptions"/> holds the first few failures for the run's error report.</summary>
internal sealed record SweepSummary(
    string Result,
    TimeSpan Duration,
    int Examined,
    int Due,
    int Refreshed,
    int Skipped,
    int Failed,
    int MarkedFailing,
    int Reauth,
    int Purged,
    int ReEncrypted,
    int IndexHealed,
    int Errors,
    IReadOnlyList<Exception> Exceptions)
{
    public const string Completed = "completed";
    public const string BudgetExhausted = "budget_exhausted";
    public const string Cancelled = "cancelled";
    public const string FailedResult = "failed";
}
