namespace FunctionsAuth.DemoProvider;

/// <summary>
/// A client registered with the demo server. A null <see cref="ClientSecret"/> and no <see cref="JsonWebKeySet"/> make it a
/// public client; a key set without a secret, a confidential client that can authenticate only with <c>private_key_jwt</c>.
/// </summary>
public sealed class DemoOAuthClient
{
    public const string DefaultClientId = "demo-app";
    public const string DefaultClientSecret = "demo-secret";
    public static readonly Uri DefaultRedirectUri = new("http://127.0.0.1:3000/api/auth/callback/demo");

    public string ClientId { get; set; } = "";

    public string? ClientSecret { get; set; }

    public IList<Uri> RedirectUris { get; set; } = [];

    /// <summary>
    /// Public keys whose signatures OpenIddict accepts as client assertions (RFC 7523, <c>private_key_jwt</c>); it checks
    /// the signature, <c>iss</c>/<c>sub</c>, <c>aud</c> and <c>exp</c>, and the server refuses a <c>jti</c> seen before.
    /// </summary>
    public Microsoft.IdentityModel.Tokens.JsonWebKeySet? JsonWebKeySet { get; set; }

    public bool IsPublic => ClientSecret is null && JsonWebKeySet is null;

    public static DemoOAuthClient CreateDefault() => new()
    {
        ClientId = DefaultClientId,
        ClientSecret = DefaultClientSecret,
        RedirectUris = [DefaultRedirectUri],
    };
}
