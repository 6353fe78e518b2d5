namespace FunctionsAuth;

/// <summary>
/// One of FunctionsAuth's own dependencies (Table Storage, Key Vault) did not answer, after the SDK's own retries.
/// The layers above see this, never the SDK's exceptions: the HTTP contract answers <c>503 temporarily_unavailable</c>.
/// The message names the dependency and the failure kind only, never a key, a token or a response body.
/// </summary>
public class DependencyUnavailableException(string dependency, string failure, Exception? innerException = null)
    : Exception($"FunctionsAuth's {dependency} did not answer ({failure}).", innerException)
{
    /// <summary><c>storage</c> or <c>secrets</c>.</summary>
    public string Dependency { get; } = dependency;

    /// <summary>A short, fixed description: an HTTP status, <c>connection_failed</c>, <c>timeout</c>...</summary>
    public string Failure { get; } = failure;
}

/// <summary>Table Storage did not answer (connection refused or dropped, time-out, 5xx, 403, throttled).</summary>
public sealed class StorageUnavailableException(string failure, Exception? innerException = null)
    : DependencyUnavailableException("storage", failure, innerException);

/// <summary>Key Vault (or the identity that reaches it) did not answer.</summary>
public sealed class SecretsUnavailableException(string failure, Exception? innerException = null)
    : DependencyUnavailableException("secrets", failure, innerException);
