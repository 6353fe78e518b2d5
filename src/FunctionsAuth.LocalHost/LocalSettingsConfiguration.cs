using System.Text.Json;
using Microsoft.Extensions.Configuration;

namespace FunctionsAuth.LocalHost;

internal static class LocalSettingsConfiguration
{
    public const string FileName = "local.settings.json";

    /// <summary>
    /// Like the Functions host: the <c>Values</c> of <c>local.settings.json</c> (<c>__</c> read as <c>:</c>), then
    /// environment variables, then the command line, each overriding the one before.
    /// </summary>
    public static IConfigurationBuilder AddFunctionsLocalSettings(this IConfigurationBuilder configuration, string contentRoot, string[] args)
    {
        var path = Path.Combine(contentRoot, FileName);
        if (File.Exists(path))
        {
            configuration.AddInMemoryCollection(ReadValues(path));
        }

        return configuration.AddEnvironmentVariables().AddCommandLine(args);
    }

    /// <summary>
    /// host.json under <c>AzureFunctionsJobHost</c>, where the Functions host puts it (so app settings named
    /// <c>AzureFunctionsJobHost__extensions__queues__batchSize</c> override it, as in Azure). Read from the content
    /// root, else from beside the binaries (the Functions project copies it there).
    /// </summary>
    public static IConfigurationBuilder AddFunctionsHostJson(this IConfigurationBuilder configuration, string contentRoot)
    {
        var path = new[] { contentRoot, AppContext.BaseDirectory }.Select(d => Path.Combine(d, "host.json")).FirstOrDefault(File.Exists);
        if (path is null)
        {
            return configuration;
        }

        var hostJson = new ConfigurationBuilder().AddJsonFile(path, optional: false, reloadOnChange: false).Build();
        return configuration.AddInMemoryCollection(hostJson.AsEnumerable()
            .Where(pair => pair.Value is not null)
            .Select(pair => new KeyValuePair<string, string?>("AzureFunctionsJobHost:" + pair.Key, pair.Value)));
    }

    internal static IEnumerable<KeyValuePair<string, string?>> ReadValues(string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        if (!document.RootElement.TryGetProperty("Values", out var values) || values.ValueKind != JsonValueKind.Object)
        {
            return [];
        }

        return values.EnumerateObject()
            .Select(p => new KeyValuePair<string, string?>(p.Name.Replace("__", ":", StringComparison.Ordinal), p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : p.Value.GetRawText()))
            .ToList();
    }
}
