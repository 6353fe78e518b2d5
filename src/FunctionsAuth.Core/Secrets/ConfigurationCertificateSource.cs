using FunctionsAuth.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace FunctionsAuth.Secrets;

/// <summary>
/// Local development: the client certificate as a PEM in <c>FunctionsAuth:Secrets:&lt;name&gt;</c>. Parsed once per value, so
/// a configuration reload with a new PEM is seen at the next request.
/// </summary>
internal sealed class ConfigurationCertificateSource(IOptionsMonitor<FunctionsAuthOptions> options, ILogger<ConfigurationCertificateSource> logger) : ICertificateSource
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (string Pem, SigningCredentials Credentials)> _parsed = new(StringComparer.OrdinalIgnoreCase);

    public ValueTask<SigningCredentials> GetSigningCredentialsAsync(string name, bool refresh, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!options.CurrentValue.Secrets.TryGetValue(name, out var pem) || string.IsNullOrWhiteSpace(pem))
        {
            return ValueTask.FromException<SigningCredentials>(
                new SecretNotFoundException(name, $"Client certificate '{name}' is not set in configuration ({FunctionsAuthOptions.SectionName}:Secrets:{name}, a PEM)."));
        }

        if (_parsed.TryGetValue(name, out var cached) && string.Equals(cached.Pem, pem, StringComparison.Ordinal))
        {
            return ValueTask.FromResult(cached.Credentials);
        }

        try
        {
            var credentials = SigningKeys.FromPem(name, pem);
            _parsed[name] = (pem, credentials);
            return ValueTask.FromResult(credentials);
        }
        catch (InvalidClientCertificateException e)
        {
            Log.CertificateUnusable(logger, name, e.Reason);
            return ValueTask.FromException<SigningCredentials>(e);
        }
    }
}
