using Azure;
using Azure.Security.KeyVault.Certificates;
using FunctionsAuth.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace FunctionsAuth.Secrets;

/// <summary>
/// Client certificates from Key Vault, cached for <see cref="FunctionsAuthOptions.SecretCacheDuration"/> like client secrets.
/// The private key is read the way Key Vault hands it out: as the secret of the certificate's name
/// (<see cref="CertificateClient.DownloadCertificateAsync(string, string, CancellationToken)"/>), so the identity needs
/// <c>get</c> on certificates and secrets (the Key Vault Secrets User role covers the secret; Certificate User the rest).
/// </summary>
internal sealed class KeyVaultCertificateSource : ICertificateSource
{
    private readonly CertificateClient _client;
    private readonly ILogger<KeyVaultCertificateSource> _logger;
    private readonly SingleFlightCache<SigningCredentials> _credentials;

    public KeyVaultCertificateSource(CertificateClient client, IOptions<FunctionsAuthOptions> options, TimeProvider timeProvider, ILogger<KeyVaultCertificateSource> logger)
    {
        _client = client;
        _logger = logger;
        _credentials = new SingleFlightCache<SigningCredentials>(LoadAsync, options.Value.SecretCacheDuration, timeProvider);
    }

    public ValueTask<SigningCredentials> GetSigningCredentialsAsync(string name, bool refresh, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return _credentials.GetAsync(name, refresh, cancellationToken);
    }

    // Shared by every waiting caller, so not cancelled by one of them; the client's own time-out and retries bound it.
    // A replaced certificate is not disposed: a request may still be signing with it, and the finalizer frees it.
    private async Task<SigningCredentials> LoadAsync(string name)
    {
        try
        {
            var certificate = (await _client.DownloadCertificateAsync(name, version: null, CancellationToken.None)).Value;
            var credentials = SigningKeys.FromCertificate(name, certificate);
            Log.CertificateRead(_logger, name, certificate.Thumbprint);
            return credentials;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            Log.SecretNotFound(_logger, name, _client.VaultUri);
            throw new SecretNotFoundException(name, $"Certificate '{name}' (or the secret holding its private key) was not found in Key Vault {_client.VaultUri}.", e);
        }
        catch (InvalidClientCertificateException e)
        {
            Log.CertificateUnusable(_logger, name, e.Reason);
            throw;
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or System.Security.Cryptography.CryptographicException)
        {
            Log.CertificateUnusable(_logger, name, e.GetType().Name);
            throw new InvalidClientCertificateException(name, "Key Vault's secret for it holds no readable certificate with a private key", e);
        }
        catch (Exception e) when (KeyVaultSecretSource.IsOutage(e))
        {
            throw KeyVaultSecretSource.Outage(e);
        }
    }
}
