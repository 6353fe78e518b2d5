using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Azure.Core;
using Azure.Identity;
using FunctionsAuth.Configuration;
using FunctionsAuth.Secrets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace FunctionsAuth.OAuth;

/// <summary>
/// How a provider's client proves who it is on token and revocation requests: a shared secret (<c>client_secret_basic</c>,
/// <c>client_secret_post</c>), a JWT signed with a certificate's key (<c>private_key_jwt</c>, RFC 7523), or the managed
/// identity's token as a federated credential (Entra ID). Loads what the method needs once per request sequence
/// (cached by the sources); each request then gets its own credentials, a fresh assertion included.
/// </summary>
internal sealed class ClientAuthenticator(
    ISecretSource secrets,
    ICertificateSource certificates,
    [FromKeyedServices(ClientAuthenticator.ManagedIdentityCredentialKey)] TokenCredential managedIdentity,
    TimeProvider time)
{
    /// <summary>DI key of the <see cref="TokenCredential"/> whose token is the federated client assertion (tests put a fake there).</summary>
    public const string ManagedIdentityCredentialKey = "FunctionsAuth.ClientAssertion.ManagedIdentity";

    /// <summary>The scope that asks the managed identity for a token with <paramref name="audience"/> (its cloud's exchange audience).</summary>
    public static string FederatedTokenScope(string audience) => audience.TrimEnd('/') + "/.default";

    /// <summary>RFC 7523 §2.2.</summary>
    public const string JwtBearerAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

    /// <summary>How long an assertion is valid: long enough for one request and its clock skew, short enough that a copy is soon useless.</summary>
    public static readonly TimeSpan AssertionLifetime = TimeSpan.FromMinutes(2);

    /// <summary>The name <c>token_endpoint_auth_methods_supported</c> lists the method under.</summary>
    public static string WireName(ClientAuthenticationMethod method) => method switch
    {
        ClientAuthenticationMethod.ClientSecretPost => "client_secret_post",
        ClientAuthenticationMethod.PrivateKeyJwt or ClientAuthenticationMethod.ManagedIdentity => "private_key_jwt",
        _ => "client_secret_basic",
    };

    /// <summary>Whether loading again can change anything: a secret or a certificate may have been rotated in Key Vault.</summary>
    public static bool CanReload(ProviderDescriptor descriptor) => descriptor.ClientAuthentication switch
    {
        ClientAuthenticationMethod.PrivateKeyJwt => descriptor.ClientCertificateName is not null,
        ClientAuthenticationMethod.ManagedIdentity => false,
        _ => descriptor.ClientSecretName is not null,
    };

    /// <param name="reload">Bypass the caches: once, after the provider answered <c>invalid_client</c>.</param>
    /// <exception cref="DependencyUnavailableException">Key Vault or the managed identity did not answer, or the certificate cannot sign.</exception>
    public async ValueTask<ClientCredentials> GetAsync(ProviderDescriptor descriptor, bool reload, CancellationToken cancellationToken)
    {
        switch (descriptor.ClientAuthentication)
        {
            case ClientAuthenticationMethod.PrivateKeyJwt:
                var name = descriptor.ClientCertificateName
                    ?? throw new InvalidClientCertificateException("(none)", $"provider '{descriptor.Name}' uses PrivateKeyJwt without a ClientCertificateName");
                return new PrivateKeyJwtCredentials(await certificates.GetSigningCredentialsAsync(name, reload, cancellationToken), time);

            case ClientAuthenticationMethod.ManagedIdentity:
                AccessToken token;
                try
                {
                    // Azure.Identity caches the token until shortly before it expires: one identity call per few hours.
                    var audience = descriptor.TokenExchangeAudience ?? EntraClouds.TokenExchangeAudience(EntraClouds.PublicInstance)!;
                    token = await managedIdentity.GetTokenAsync(new TokenRequestContext([FederatedTokenScope(audience)]), cancellationToken);
                }
                catch (Exception ex) when (ex is AuthenticationFailedException or CredentialUnavailableException)
                {
                    throw new DependencyUnavailableException("managed_identity", ex is CredentialUnavailableException ? "credential_unavailable" : "authentication_failed", ex);
                }

                return new AssertionCredentials(token.Token);

            default:
                var secret = descriptor.ClientSecretName is { Length: > 0 } secretName ? await secrets.GetSecretAsync(secretName, reload, cancellationToken) : null;
                return new SecretCredentials(secret);
        }
    }

    /// <summary>The managed identity of the Function App: user-assigned when <c>AZURE_CLIENT_ID</c> names one, as for storage and Key Vault.</summary>
    internal static TokenCredential CreateManagedIdentityCredential(string? clientId) =>
        new ManagedIdentityCredential(string.IsNullOrEmpty(clientId) ? ManagedIdentityId.SystemAssigned : ManagedIdentityId.FromUserAssignedClientId(clientId));
}

/// <summary>What one token or revocation request carries to authenticate the client. Never logged, never printed.</summary>
internal abstract class ClientCredentials
{
    /// <summary>Adds the client's credentials to a request about to be sent to <paramref name="descriptor"/>.</summary>
    public abstract void Apply(HttpRequestMessage request, List<KeyValuePair<string, string>> form, ProviderDescriptor descriptor);

    public sealed override string ToString() => GetType().Name;
}

/// <summary><c>client_secret_basic</c> or <c>client_secret_post</c>; no secret at all for a public client (client_id only).</summary>
internal sealed class SecretCredentials(string? secret) : ClientCredentials
{
    public override void Apply(HttpRequestMessage request, List<KeyValuePair<string, string>> form, ProviderDescriptor descriptor)
    {
        if (secret is not null && descriptor.ClientAuthentication != ClientAuthenticationMethod.ClientSecretPost)
        {
            // RFC 6749 §2.3.1: both parts form-encoded before base64.
            var credentials = Uri.EscapeDataString(descriptor.ClientId) + ":" + Uri.EscapeDataString(secret);
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(credentials)));
            return;
        }

        form.Add(new("client_id", descriptor.ClientId));
        if (secret is not null)
        {
            form.Add(new("client_secret", secret));
        }
    }
}

/// <summary>An assertion obtained elsewhere (the managed identity's token), sent as a jwt-bearer client assertion.</summary>
internal sealed class AssertionCredentials(string assertion) : ClientCredentials
{
    public override void Apply(HttpRequestMessage request, List<KeyValuePair<string, string>> form, ProviderDescriptor descriptor)
    {
        form.Add(new("client_id", descriptor.ClientId));
        form.Add(new("client_assertion_type", ClientAuthenticator.JwtBearerAssertionType));
        form.Add(new("client_assertion", assertion));
    }
}

/// <summary>
/// RFC 7523 §3 / OpenID Connect Core §9: <c>iss</c> = <c>sub</c> = the client id, <c>aud</c> = the token endpoint (or the
/// issuer, <see cref="ClientAssertionFormat.Rfc7523bis"/>), a random <c>jti</c>, <c>iat</c> now and <c>exp</c> shortly after,
/// signed for each request so no two requests share one.
/// </summary>
internal sealed class PrivateKeyJwtCredentials(SigningCredentials signing, TimeProvider time) : ClientCredentials
{
    /// <summary>draft-ietf-oauth-rfc7523bis's explicit type, so the assertion cannot pass for another kind of JWT signed with the same key.</summary>
    public const string ExplicitType = "client-authentication+jwt";

    private static readonly JsonWebTokenHandler Handler = new() { SetDefaultTimesOnTokenCreation = false };

    public override void Apply(HttpRequestMessage request, List<KeyValuePair<string, string>> form, ProviderDescriptor descriptor)
    {
        form.Add(new("client_id", descriptor.ClientId));
        form.Add(new("client_assertion_type", ClientAuthenticator.JwtBearerAssertionType));
        form.Add(new("client_assertion", Create(descriptor.ClientId, Audience(descriptor), time.GetUtcNow(), descriptor.ClientAssertionFormat)));
    }

    /// <summary>The token endpoint; for the rfc7523bis format the issuer as the provider spells it (validation requires one).</summary>
    internal static string Audience(ProviderDescriptor descriptor) =>
        descriptor.ClientAssertionFormat == ClientAssertionFormat.Rfc7523bis && descriptor.Issuer is { } issuer
            ? issuer.AbsoluteUri
            : descriptor.TokenEndpoint.AbsoluteUri;

    /// <summary>No <c>nbf</c>: a provider whose clock runs a little behind ours would refuse an assertion "not yet valid".</summary>
    internal string Create(string clientId, string audience, DateTimeOffset now, ClientAssertionFormat format) =>
        Handler.CreateToken(new SecurityTokenDescriptor
        {
            TokenType = format == ClientAssertionFormat.Rfc7523bis ? ExplicitType : "JWT",
            SigningCredentials = signing,
            Claims = new Dictionary<string, object>
            {
                [JwtRegisteredClaimNames.Iss] = clientId,
                [JwtRegisteredClaimNames.Sub] = clientId,
                [JwtRegisteredClaimNames.Aud] = audience,
                [JwtRegisteredClaimNames.Jti] = Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(16)),
                [JwtRegisteredClaimNames.Iat] = now.ToUnixTimeSeconds(),
                [JwtRegisteredClaimNames.Exp] = (now + ClientAuthenticator.AssertionLifetime).ToUnixTimeSeconds(),
            },
        });
}
