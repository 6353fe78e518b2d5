namespace FunctionsAuth.DemoProvider;

/// <summary>
/// The result of a front-channel authorization: what a client needs for the code exchange.
/// Not a record, so the code and verifier never end up in a test log through <c>ToString()</c>.
/// </summary>
public sealed class AuthorizationCode(string code, string codeVerifier, Uri redirectUri)
{
    public string Code { get; } = code;

    public string CodeVerifier { get; } = codeVerifier;

    public Uri RedirectUri { get; } = redirectUri;

    public override string ToString() => $"AuthorizationCode for {RedirectUri}";
}
