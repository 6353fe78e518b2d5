using System.Text;

namespace FunctionsAuth.Secrets;

/// <summary>Where client secrets and the token-encryption key come from: Key Vault in Azure, configuration in local development.</summary>
public interface ISecretSource
{
    /// <summary><c>"KeyVault"</c> or <c>"Configuration"</c>, for logs and health reports.</summary>
    string Kind { get; }

    /// <summary>The current value of a secret.</summary>
    /// <param name="refresh">Bypass the cache: used once after a provider answers <c>invalid_client</c>, so a rotated client secret is picked up without a restart.</param>
    /// <exception cref="SecretNotFoundException">The secret does not exist.</exception>
    ValueTask<string> GetSecretAsync(string name, bool refresh, CancellationToken cancellationToken);

    /// <summary>
    /// Every enabled version of a secret whose <c>nbf</c> has passed, newest first (the encryption key ring). Versions
    /// past their <c>exp</c> are included with <see cref="SecretVersion.ExpiresOn"/> set: the ring stops encrypting
    /// with them but keeps decrypting what they protect.
    /// </summary>
    /// <exception cref="SecretNotFoundException">The secret does not exist or has no usable version.</exception>
    ValueTask<IReadOnlyList<SecretVersion>> GetSecretVersionsAsync(string name, bool refresh, CancellationToken cancellationToken);
}

/// <summary>One version of a secret. <see cref="ToString"/> leaves the value out.</summary>
public sealed record SecretVersion(string Version, string Value, DateTimeOffset? CreatedOn, DateTimeOffset? ExpiresOn = null)
{
    // A record prints every property by default; a secret version logged or shown in a debugger must not carry its value.
    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append("Version = ").Append(Version).Append(", CreatedOn = ").Append(CreatedOn).Append(", ExpiresOn = ").Append(ExpiresOn);
        return true;
    }
}
