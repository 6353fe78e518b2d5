using System.Globalization;
using FunctionsAuth.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Secrets;

/// <summary>
/// Local development: secrets from <c>FunctionsAuth:Secrets:&lt;name&gt;</c>. Read on every call (no cache needed, and a
/// configuration reload is seen at once).
/// </summary>
internal sealed class ConfigurationSecretSource : ISecretSource
{
    private const string VersionPrefix = "config-";

    private readonly IOptionsMonitor<FunctionsAuthOptions> _options;

    public ConfigurationSecretSource(IOptionsMonitor<FunctionsAuthOptions> options, ILogger<ConfigurationSecretSource> logger)
    {
        _options = options;
        Log.SecretsFromConfiguration(logger);
    }

    public string Kind => "Configuration";

    // The whole value: a client secret may legitimately contain commas; only the version list splits on them.
    public ValueTask<string> GetSecretAsync(string name, bool refresh, CancellationToken cancellationToken) =>
        TryGetValue(name, out var value)
            ? ValueTask.FromResult(value)
            : ValueTask.FromException<string>(NotFound(name));

    /// <remarks>The value may hold several values separated by <c>,</c>, newest first, so local development can rotate the encryption key.</remarks>
    public ValueTask<IReadOnlyList<SecretVersion>> GetSecretVersionsAsync(string name, bool refresh, CancellationToken cancellationToken)
    {
        if (!TryGetValue(name, out var value))
        {
            return ValueTask.FromException<IReadOnlyList<SecretVersion>>(NotFound(name));
        }

        var parts = value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var versions = new SecretVersion[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            versions[i] = new SecretVersion(VersionPrefix + i.ToString(CultureInfo.InvariantCulture), parts[i], CreatedOn: null);
        }

        return versions.Length == 0
            ? ValueTask.FromException<IReadOnlyList<SecretVersion>>(NotFound(name))
            : ValueTask.FromResult<IReadOnlyList<SecretVersion>>(versions);
    }

    private bool TryGetValue(string name, out string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (_options.CurrentValue.Secrets.TryGetValue(name, out var configured) && !string.IsNullOrWhiteSpace(configured))
        {
            value = configured;
            return true;
        }

        value = "";
        return false;
    }

    private static SecretNotFoundException NotFound(string name) =>
        new(name, $"Secret '{name}' is not set in configuration ({FunctionsAuthOptions.SectionName}:Secrets:{name}).");
}
