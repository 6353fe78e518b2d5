namespace FunctionsAuth.DemoProvider;

/// <summary>A client registered with the demo server. A null <see cref="ClientSecret"/> makes it a public client.</summary>
public sealed class DemoOAuthClient
{
    public const string DefaultClientId = "demo-app";
    public const string DefaultClientSecret = "demo-secret";
    public static readonly Uri DefaultRedirectUri = new("http://127.0.0.1:3000/api/auth/callback/demo");

    public string ClientId { get; set; } = "";

    public string? ClientSecret { get; set; }

    public IList<Uri> RedirectUris { get; set; } = [];

    public bool IsPublic => ClientSecret is null;

    public static DemoOAuthClient CreateDefault() => new()
    {
        ClientId = DefaultClientId,
        ClientSecret = DefaultClientSecret,
        RedirectUris = [DefaultRedirectUri],
    };
}
