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
