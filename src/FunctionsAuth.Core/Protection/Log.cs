using Microsoft.Extensions.Logging;

namespace FunctionsAuth.Protection;

// Key ids are truncated hashes of the keys (not the keys) and safe to log; plaintext, keys and purposes never are.
internal static partial class Log
{
    [LoggerMessage(EventId = 1100, Level = LogLevel.Information,
        Message = "Loaded the token-encryption key ring from {SecretSource}: {KeyCount} key(s), encrypting with key {KeyId}")]
    public static partial void KeyRingLoaded(ILogger logger, string secretSource, int keyCount, string keyId);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Error,
        Message = "Refreshing the token-encryption key ring failed; still using the current ring (encrypting with key {KeyId}) and retrying in {RetryInterval}")]
    public static partial void KeyRingRefreshFailed(ILogger logger, string keyId, TimeSpan retryInterval, Exception exception);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Information,
        Message = "A protected token names key {KeyId}, which the key ring does not hold; reloading the key ring")]
    public static partial void ReloadingForUnknownKey(ILogger logger, string keyId);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Warning,
        Message = "A protected token names key {KeyId}, which is not in the key ring (disabled, deleted or never ours)")]
    public static partial void UnknownKey(ILogger logger, string keyId);

    [LoggerMessage(EventId = 1104, Level = LogLevel.Error,
        Message = "Version {SecretVersion} of secret {SecretName} ({SecretSource}) is not a token-encryption key: it must be base64 of exactly 32 bytes (AES-256, e.g. 'openssl rand -base64 32'); tokens cannot be encrypted or decrypted until it is fixed")]
    public static partial void InvalidKey(ILogger logger, string secretSource, string secretName, string secretVersion);

    [LoggerMessage(EventId = 1105, Level = LogLevel.Warning,
        Message = "Token-encryption key {KeyId} (version {SecretVersion} of secret {SecretName}) expires at {ExpiresOn}: add a new version before then. After its exp it only decrypts; with no unexpired version nothing can be encrypted")]
    public static partial void EncryptionKeyExpiring(ILogger logger, string keyId, string secretVersion, string secretName, DateTimeOffset expiresOn);

    [LoggerMessage(EventId = 1106, Level = LogLevel.Error,
        Message = "Every version of secret {SecretName} ({SecretSource}) is past its exp (newest: key {KeyId}): existing tokens still decrypt, but nothing can be encrypted until a new version is added")]
    public static partial void EveryKeyExpired(ILogger logger, string secretSource, string secretName, string keyId);
}
