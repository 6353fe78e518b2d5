namespace FunctionsAuth;

/// <summary>
/// A caller's cancellation token that also cancels after a time-out measured on a <see cref="TimeProvider"/>:
/// <c>CancellationTokenSource.CancelAfter</c> on a linked source would run on the system clock, which a test's
/// fake clock cannot move.
/// </summary>
internal sealed class Deadline : IDisposable
{
    private readonly CancellationTokenSource expiry;
    private readonly CancellationTokenSource linked;

    public Deadline(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        expiry = new CancellationTokenSource(timeout, time);
        linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, expiry.Token);
    }

    public CancellationToken Token => linked.Token;

    /// <summary>The time-out fired (rather than the caller cancelling).</summary>
    public bool Expired => expiry.IsCancellationRequested;

    public void Dispose()
    {
        linked.Dispose();
        expiry.Dispose();
    }
}
