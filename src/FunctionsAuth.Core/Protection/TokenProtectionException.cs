namespace FunctionsAuth.Protection;

/// <summary>
/// A protected token could not be decrypted. The message is fixed and carries no data (no plaintext, key, purpose or
/// ciphertext); <see cref="Failure"/> says why.
/// </summary>
public sealed class TokenProtectionException : Exception
{
    internal TokenProtectionException(TokenProtectionFailure failure)
        : base("The protected token could not be decrypted.")
    {
        Failure = failure;
    }

    public TokenProtectionFailure Failure { get; }
}

public enum TokenProtectionFailure
{
    /// <summary>Too short, or a format this version does not know.</summary>
    MalformedCiphertext,

    /// <summary>The key named in the header is not in the key ring, even after reloading it (deleted, disabled, or never ours).</summary>
    UnknownKey,

    /// <summary>Tampered with, or bound to another row or field (the associated data differs).</summary>
    TagMismatch,
}

/// <summary>
/// A version of the token-encryption key secret is not base64 of exactly 32 bytes. Names the secret and the version,
/// never the value, so it can be logged as it is.
/// </summary>
public sealed class InvalidProtectionKeyException : InvalidOperationException
{
    internal InvalidProtectionKeyException(string secretName, string version)
        : base($"Version '{version}' of secret '{secretName}' is not a token-encryption key: it must be base64 of exactly {ProtectionKey.KeySize} bytes (AES-256).")
    {
        SecretName = secretName;
        Version = version;
    }

    public string SecretName { get; }

    public string Version { get; }
}
