using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using FunctionsAuth.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.OAuth;

/// <summary>
/// Resolves a configured provider name to its endpoints: presets for Google and Entra ID, OpenID Connect discovery
/// (cached, one fetch at a time per provider) for any other issuer.
/// </summary>
/// <remarks>
/// The cache is a dictionary of descriptors with their expiry in front of <see cref="SingleFlight{TKey, TValue}"/>, not
/// HybridCache: its expiry would run on MemoryCache's clock instead of the injected <see cref="TimeProvider"/>, a
/// descriptor would be serialized through any registered distributed cache, and it cancels a shared fetch when its
/// callers give up (see <c>SingleFlightCache</c> for the full evaluation).
/// </remarks>
internal sealed class ProviderRegistry(
    IOptions<FunctionsAuthOptions> options,
    IHttpClientFactory httpClientFactory,
    TimeProvider time,
    ILogger<ProviderRegistry> logger)
{
    public const string DiscoveryClientName = "FunctionsAuth.Discovery";

    private static readonly TimeSpan DiscoveryLifetime = TimeSpan.FromHours(24);

    private readonly ConcurrentDictionary<string, CacheEntry> cache = new(StringComparer.OrdinalIgnoreCase);
    private readonly SingleFlight<string, ProviderDescriptor> resolving = new(StringComparer.OrdinalIgnoreCase);

    public bool IsConfigured(string name) => options.Value.Providers.ContainsKey(name);

    public ValueTask<ProviderDescriptor> GetAsync(string name, CancellationToken cancellationToken)
    {
        if (cache.TryGetValue(name, out var cached) && cached.ExpiresAt > time.GetUtcNow())
        {
            return new ValueTask<ProviderDescriptor>(cached.Descriptor);
        }

        // Failed lookups are not cached: the next caller tries again.
        return new ValueTask<ProviderDescriptor>(resolving.RunAsync(name, this, static (name, self) => self.ResolveAndCacheAsync(name)).WaitAsync(cancellationToken));
    }

    private async Task<ProviderDescriptor> ResolveAndCacheAsync(string name)
    {
        var started = time.GetUtcNow();
        var descriptor = await ResolveAsync(name);
        cache[name] = new CacheEntry(descriptor, started + DiscoveryLifetime);
        return descriptor;
    }

    private async Task<ProviderDescriptor> ResolveAsync(string name)
    {
        await Task.Yield();
        if (!options.Value.Providers.TryGetValue(name, out var provider))
        {
            // A stored session can name a provider since removed from configuration.
            throw new ProviderDiscoveryException($"Provider '{name}' is not configured.");
        }

        Uri? tokenEndpoint = provider.TokenEndpoint;
        Uri? revocationEndpoint = provider.RevocationEndpoint;
        Uri? userInfoEndpoint = provider.UserInfoEndpoint;
        var authentication = provider.ClientAuthentication == ClientAuthenticationMethod.Auto && provider.ClientCertificateName is { Length: > 0 }
            ? ClientAuthenticationMethod.PrivateKeyJwt
            : provider.ClientAuthentication;

        switch (provider.Kind)
        {
            case ProviderKind.Google:
                tokenEndpoint ??= new Uri("https://oauth2.googleapis.com/token");
                revocationEndpoint ??= new Uri("https://oauth2.googleapis.com/revoke");
                userInfoEndpoint ??= new Uri("https://openidconnect.googleapis.com/v1/userinfo");
                authentication = authentication == ClientAuthenticationMethod.Auto ? ClientAuthenticationMethod.ClientSecretPost : authentication;
                break;
            case ProviderKind.Entra:
                // Entra ID has no RFC 7009 revocation endpoint. Its userinfo endpoint (Microsoft Graph) accepts only Graph
                // access tokens, not those for the app's own API: no preset, so hand-overs are checked by a refresh.
                tokenEndpoint ??= EntraClouds.TokenEndpoint(provider.Instance ?? EntraClouds.PublicInstance, provider.TenantId ?? "common");
                authentication = authentication == ClientAuthenticationMethod.Auto ? ClientAuthenticationMethod.ClientSecretPost : authentication;
                break;
            default:
                if (tokenEndpoint is null || authentication == ClientAuthenticationMethod.Auto)
                {
                    var document = await DiscoverAsync(name, provider);
                    tokenEndpoint ??= document.TokenEndpoint;
                    revocationEndpoint ??= document.RevocationEndpoint;
                    userInfoEndpoint ??= document.UserInfoEndpoint;
                    EnsureAuthenticationSupported(name, authentication, document);
                    if (authentication == ClientAuthenticationMethod.Auto)
                    {
                        var methods = document.TokenEndpointAuthMethodsSupported ?? [];
                        authentication = methods.Length == 0 || methods.Contains("client_secret_basic")
                            ? ClientAuthenticationMethod.ClientSecretBasic
                            : methods.Contains("client_secret_post")
                                ? ClientAuthenticationMethod.ClientSecretPost
                                : ClientAuthenticationMethod.ClientSecretBasic;
                    }
                }

                break;
        }

        if (tokenEndpoint is null)
        {
            throw new ProviderDiscoveryException($"Provider '{name}' has no token endpoint (set TokenEndpoint or an Issuer with discovery).");
        }

        EnsureSecureEndpoint(name, tokenEndpoint);
        if (revocationEndpoint is not null)
        {
            EnsureSecureEndpoint(name, revocationEndpoint);
        }

        if (userInfoEndpoint is not null)
        {
            EnsureSecureEndpoint(name, userInfoEndpoint);
        }

        return new ProviderDescriptor(name, tokenEndpoint, revocationEndpoint, provider.ClientId, provider.ClientSecretName, authentication, provider.Scopes, userInfoEndpoint, provider.ClientCertificateName, provider.Kind, provider.Issuer, provider.ClientAssertionFormat,
            authentication == ClientAuthenticationMethod.ManagedIdentity ? ExchangeAudience(provider) : null);
    }

    /// <summary>The validator refuses a ManagedIdentity provider whose cloud is unknown and that names no audience.</summary>
    private static string ExchangeAudience(ProviderOptions provider) =>
        provider.TokenExchangeAudience is { Length: > 0 } configured
            ? configured
            : EntraClouds.TokenExchangeAudience(provider.Instance ?? EntraClouds.PublicInstance)
              ?? throw new ProviderDiscoveryException($"Provider uses ManagedIdentity at {provider.Instance}, a cloud without a known exchange audience: set TokenExchangeAudience.");

    private async Task<DiscoveryDocument> DiscoverAsync(string name, ProviderOptions provider)
    {
        if (provider.Issuer is null)
        {
            throw new ProviderDiscoveryException($"Provider '{name}' needs an Issuer (for discovery) or a TokenEndpoint.");
        }

        EnsureSecureEndpoint(name, provider.Issuer);
        var issuer = provider.Issuer.AbsoluteUri.TrimEnd('/');
        var discoveryUri = new Uri(issuer + "/.well-known/openid-configuration");
        var client = httpClientFactory.CreateClient(DiscoveryClientName);
        using var timeout = new CancellationTokenSource(options.Value.ProviderTimeout, time);
        DiscoveryDocument? document;
        try
        {
            document = await client.GetFromJsonAsync(discoveryUri, OAuthJsonContext.Default.DiscoveryDocument, timeout.Token);
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException)
        {
            // Malformed JSON, a value of the wrong type, or a charset the reader does not know: not a document we can use.
            throw new ProviderDiscoveryException($"Provider '{name}': {discoveryUri.GetLeftPart(UriPartial.Path)} is not a JSON discovery document.");
        }
        catch (HttpRequestException ex) when (ex.StatusCode is { } status && (int)status is >= 300 and < 400)
        {
            // Redirects are not followed (they could lead the token requests elsewhere): the issuer is misconfigured.
            throw new ProviderDiscoveryException($"Provider '{name}': {discoveryUri.GetLeftPart(UriPartial.Path)} answered a redirect ({(int)status}); set Issuer to the URL that serves the document.");
        }

        if (document is null)
        {
            throw new ProviderDiscoveryException($"Provider '{name}' returned an empty discovery document.");
        }

        if (!string.Equals(document.Issuer?.TrimEnd('/'), issuer, StringComparison.Ordinal))
        {
            throw new ProviderDiscoveryException($"Provider '{name}': the discovery document names another issuer than {issuer}.");
        }

        Log.DiscoveryLoaded(logger, name);
        return document;
    }

    /// <summary>
    /// A configured method the provider does not list would fail every token request with <c>invalid_client</c>: say so
    /// once, naming both. A document without the list says nothing (OpenID Connect Discovery's default,
    /// <c>client_secret_basic</c>, is often not what a provider really does), so it is not held against the method.
    /// </summary>
    private static void EnsureAuthenticationSupported(string name, ClientAuthenticationMethod authentication, DiscoveryDocument document)
    {
        if (authentication == ClientAuthenticationMethod.Auto || document.TokenEndpointAuthMethodsSupported is not { Length: > 0 } methods)
        {
            return;
        }

        var wireName = ClientAuthenticator.WireName(authentication);
        if (!methods.Contains(wireName, StringComparer.Ordinal))
        {
            throw new ProviderDiscoveryException($"Provider '{name}': ClientAuthentication {authentication} ({wireName}) is not in its discovery document's token_endpoint_auth_methods_supported ({string.Join(", ", methods)}).");
        }
    }

    internal static void EnsureSecureEndpoint(string provider, Uri endpoint)
    {
        if (!IsAllowedEndpoint(endpoint))
        {
            throw new ProviderDiscoveryException($"Provider '{provider}': endpoint {endpoint.GetLeftPart(UriPartial.Path)} must use https (plain http is allowed on loopback only).");
        }
    }

    /// <summary>https, or plain http on a loopback address (local development and tests).</summary>
    internal static bool IsAllowedEndpoint(Uri endpoint) => endpoint.Scheme == Uri.UriSchemeHttps || IsLoopback(endpoint);

    private static bool IsLoopback(Uri endpoint) =>
        endpoint.Scheme == Uri.UriSchemeHttp
        && (endpoint.IsLoopback || (IPAddress.TryParse(endpoint.DnsSafeHost, out var address) && IPAddress.IsLoopback(address)));

    private sealed record CacheEntry(ProviderDescriptor Descriptor, DateTimeOffset ExpiresAt);
}

/// <summary>
/// A provider's endpoints cannot be worked out: its discovery document is malformed or names another issuer, or an
/// endpoint is not allowed. A configuration problem at the provider's end, which callers turn into a result (the
/// message names the provider and URLs, nothing secret); transport failures stay <see cref="HttpRequestException"/>.
/// </summary>
internal sealed class ProviderDiscoveryException(string message) : Exception(message);

internal sealed class DiscoveryDocument
{
    [JsonPropertyName("issuer")]
    public string? Issuer { get; set; }

    [JsonPropertyName("token_endpoint")]
    public Uri? TokenEndpoint { get; set; }

    [JsonPropertyName("revocation_endpoint")]
    public Uri? RevocationEndpoint { get; set; }

    [JsonPropertyName("userinfo_endpoint")]
    public Uri? UserInfoEndpoint { get; set; }

    [JsonPropertyName("token_endpoint_auth_methods_supported")]
    public string[]? TokenEndpointAuthMethodsSupported { get; set; }
}
