using Microsoft.IdentityModel.Tokens;

namespace FunctionsAuth.Secrets;

/// <summary>
/// Where the key that signs <c>private_key_jwt</c> client assertions comes from: a Key Vault certificate in Azure, a PEM in
/// configuration in local development. The private key never leaves the process, and nothing here logs it.
/// </summary>
internal interface ICertificateSource
{
    /// <param name="refresh">Bypass the cache: used once after a provider answers <c>invalid_client</c>, so a rotated certificate is picked up without a restart.</param>
    /// <exception cref="SecretNotFoundException">No such certificate.</exception>
    /// <exception cref="InvalidClientCertificateException">It exists but cannot sign (no private key, an unsupported key type).</exception>
    /// <exception cref="SecretsUnavailableException">Key Vault did not answer.</exception>
    ValueTask<SigningCredentials> GetSigningCredentialsAsync(string name, bool refresh, CancellationToken cancellationToken);
}

/// <summary>A configured client certificate cannot sign assertions. The message names it and the reason, never key material.</summary>
internal sealed class InvalidClientCertificateException(string name, string reason, Exception? innerException = null)
    : DependencyUnavailableException("secrets", "invalid_client_certificate", innerException)
{
    public string CertificateName { get; } = name;

    public string Reason { get; } = reason;

    public override string Message => $"Client certificate '{CertificateName}' cannot sign client assertions: {Reason}.";
}
