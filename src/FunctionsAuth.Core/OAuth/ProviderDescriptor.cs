using FunctionsAuth.Configuration;

namespace FunctionsAuth.OAuth;

/// <summary>A provider's endpoints and client settings, resolved from presets or discovery.</summary>
internal sealed record ProviderDescriptor(
    string Name,
    Uri TokenEndpoint,
    Uri? RevocationEndpoint,
    string ClientId,
    string? ClientSecretName,
    ClientAuthenticationMethod ClientAuthentication,
    string? Scopes,
    Uri? UserInfoEndpoint = null,
    string? ClientCertificateName = null,
    ProviderKind Kind = ProviderKind.Oidc,
    Uri? Issuer = null,
    ClientAssertionFormat ClientAssertionFormat = ClientAssertionFormat.Rfc7523,
    string? TokenExchangeAudience = null);
