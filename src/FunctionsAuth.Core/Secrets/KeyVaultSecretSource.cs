using Azure;
using Azure.Security.KeyVault.Secrets;
using FunctionsAuth.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Secrets;

/// <summary>Secrets from Azure Key Vault, cached for <see cref="FunctionsAuthOptions.SecretCacheDuration"/>.</summary>
internal sealed class KeyVaultSecretSource : ISecretSource
{
    private readonly SecretClient _client;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<KeyVaultSecretSource> _logger;
    private readonly SingleFlightCache<string> _values;
    private readonly SingleFlightCache<IReadOnlyList<SecretVersion>> _versions;

    public KeyVaultSecretSource(SecretClient client, IOptions<FunctionsAuthOptions> options, TimeProvider timeProvider, ILogger<KeyVaultSecretSource> logger)
    {
        _client = client;
        _timeProvider = timeProvider;
        _logger = logger;
        var cacheDuration = options.Value.SecretCacheDuration;
        _values = new SingleFlightCache<string>(LoadValueAsync, cacheDuration, timeProvider);
        _versions = new SingleFlightCache<IReadOnlyList<SecretVersion>>(LoadVersionsAsync, cacheDuration, timeProvider);
    }

    public string Kind => "KeyVault";

    public ValueTask<string> GetSecretAsync(string name, bool refresh, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return _values.GetAsync(name, refresh, cancellationToken);
    }

    public ValueTask<IReadOnlyList<SecretVersion>> GetSecretVersionsAsync(string name, bool refresh, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return _versions.GetAsync(name, refresh, cancellationToken);
    }

    // Loads run without the caller's token: they are shared by every caller waiting on the same name, and the
    // SecretClient's own network time-out and retry policy bound them.
    private async Task<string> LoadValueAsync(string name)
    {
        try
        {
            KeyVaultSecret secret = await _client.GetSecretAsync(name, null, CancellationToken.None);
            Log.SecretRead(_logger, name);
            return secret.Value ?? "";
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw NotFound(name, e);
        }
        catch (Exception e) when (IsOutage(e))
        {
            throw Outage(e);
        }
    }

    private async Task<IReadOnlyList<SecretVersion>> LoadVersionsAsync(string name)
    {
        try
        {
            var now = _timeProvider.GetUtcNow();
            var usable = new List<SecretProperties>();
            await foreach (var properties in _client.GetPropertiesOfSecretVersionsAsync(name, CancellationToken.None))
            {
                if (IsUsable(properties, now))
                {
                    usable.Add(properties);
                }
            }

            if (usable.Count == 0)
            {
                Log.SecretNotFound(_logger, name, _client.VaultUri);
                throw new SecretNotFoundException(name, $"Secret '{name}' has no enabled, currently valid version in Key Vault {_client.VaultUri}.");
            }

            usable.Sort(NewestFirst);
            var secrets = await Task.WhenAll(usable.Select(p => _client.GetSecretAsync(name, p.Version, CancellationToken.None)));
            var versions = new SecretVersion[secrets.Length];
            for (var i = 0; i < secrets.Length; i++)
            {
                versions[i] = new SecretVersion(usable[i].Version, secrets[i].Value.Value ?? "", usable[i].CreatedOn, usable[i].ExpiresOn);
            }

            Log.SecretVersionsRead(_logger, name, versions.Length);
            return versions;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw NotFound(name, e);
        }
        catch (Exception e) when (IsOutage(e))
        {
            throw Outage(e);
        }
    }

    // Disabled and not-yet-valid versions are left out (Key Vault does not enforce nbf on reads, so honouring it is up
    // to us). Expired ones stay, carrying their exp: for the encryption key an exp ends encrypting, not decrypting, or
    // every session under that key would turn invalid at once (the ring decides; see KeyRing.EncryptionKey).
    private static bool IsUsable(SecretProperties properties, DateTimeOffset now) =>
        properties.Enabled == true
        && (properties.NotBefore is null || properties.NotBefore <= now);

    private static int NewestFirst(SecretProperties x, SecretProperties y)
    {
        var byCreation = Nullable.Compare(y.CreatedOn, x.CreatedOn);
        return byCreation != 0 ? byCreation : string.CompareOrdinal(y.Version, x.Version);
    }

    /// <summary>Key Vault or the identity did not answer (after the SDK's retries): a failure to wait out, not a missing secret.</summary>
    internal static bool IsOutage(Exception e) =>
        e is AggregateException or HttpRequestException or OperationCanceledException or Azure.Identity.AuthenticationFailedException or Azure.Identity.CredentialUnavailableException
        || (e is RequestFailedException r && r.Status != 404);

    internal static SecretsUnavailableException Outage(Exception e) => new(
        e switch
        {
            RequestFailedException { Status: > 0 } r => "http_" + r.Status.ToString(System.Globalization.CultureInfo.InvariantCulture),
            OperationCanceledException => "timeout",
            Azure.Identity.AuthenticationFailedException or Azure.Identity.CredentialUnavailableException => "authentication_failed",
            _ => "connection_failed",
        },
        e);

    private SecretNotFoundException NotFound(string name, RequestFailedException e)
    {
        Log.SecretNotFound(_logger, name, _client.VaultUri);
        return new SecretNotFoundException(name, $"Secret '{name}' was not found in Key Vault {_client.VaultUri}.", e);
    }
}
