namespace FunctionsAuth.OAuth;

/// <summary>
/// Entra ID's clouds, by login host: where a tenant's token endpoint lives, and which audience a managed identity's token
/// must carry to be accepted as a federated identity credential there. Microsoft publishes the pairs ("Configure an
/// application to trust a managed identity"); MSAL keeps the same table (<c>KnownCloudConfiguration</c>) but takes no
/// dependency here for one lookup.
/// </summary>
internal static class EntraClouds
{
    /// <summary>The global service's login host (the default <c>Instance</c>).</summary>
    public static Uri PublicInstance { get; } = new("https://login.microsoftonline.com/");

    private static readonly Dictionary<string, string> ExchangeAudienceByHost = new(StringComparer.OrdinalIgnoreCase)
    {
        ["login.microsoftonline.com"] = "api://AzureADTokenExchange",
        ["login.microsoftonline.us"] = "api://AzureADTokenExchangeUSGov",
        ["login.partner.microsoftonline.cn"] = "api://AzureADTokenExchangeChina",
        ["login.sovcloud-identity.fr"] = "api://AzureADTokenExchangeFrance",
        ["login.sovcloud-identity.de"] = "api://AzureADTokenExchangeGermany",
    };

    /// <summary>The clouds whose exchange audience is known, for error messages.</summary>
    public static IEnumerable<string> KnownHosts => ExchangeAudienceByHost.Keys;

    /// <summary>The federated-credential audience of the cloud at <paramref name="instance"/>, or null for a host not in the table.</summary>
    public static string? TokenExchangeAudience(Uri instance) => ExchangeAudienceByHost.GetValueOrDefault(instance.Host);

    /// <summary>A tenant's v2.0 token endpoint at <paramref name="instance"/> (a login host, with or without a trailing slash).</summary>
    public static Uri TokenEndpoint(Uri instance, string tenant) =>
        new($"{instance.GetLeftPart(UriPartial.Authority)}/{Uri.EscapeDataString(tenant)}/oauth2/v2.0/token");
}
