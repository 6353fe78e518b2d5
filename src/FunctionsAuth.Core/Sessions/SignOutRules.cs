using FunctionsAuth.Configuration;

namespace FunctionsAuth.Sessions;

/// <summary>What a sign-out does at the provider.</summary>
internal enum SignOutAction
{
    /// <summary>Delete the session and revoke its refresh token at the provider (RFC 7009, where it has an endpoint).</summary>
    DeleteAndRevoke,

    /// <summary>Delete the session only; the grant stays valid at the provider until it expires or the user revokes it.</summary>
    Delete,

    /// <summary>The app asked to revoke where the provider's setting forbids it: nothing happens, the caller hears why.</summary>
    Refuse,
}

/// <summary>The sign-out rule, as a pure function of the provider's setting and what the app asked for.</summary>
internal static class SignOutRules
{
    private const string GoogleIssuerHost = "accounts.google.com";

    /// <summary>
    /// <see cref="SignOutRevocation.Auto"/> resolved: Google is known by its kind or its issuer, because its revocation
    /// ends the app's grant for the user on every device; every other provider issues a grant per sign-in.
    /// </summary>
    public static SignOutRevocation Resolve(ProviderOptions? provider) => provider switch
    {
        null => SignOutRevocation.Always,
        { SignOutRevocation: not SignOutRevocation.Auto } => provider.SignOutRevocation,
        { Kind: ProviderKind.Google } => SignOutRevocation.Never,
        { Issuer: { } issuer } when issuer.Host.Equals(GoogleIssuerHost, StringComparison.OrdinalIgnoreCase) => SignOutRevocation.Never,
        _ => SignOutRevocation.Always,
    };

    /// <param name="revokeGrant">The request's <c>revoke_grant</c>; null when the app did not say.</param>
    public static SignOutAction Decide(SignOutRevocation policy, bool? revokeGrant) => policy switch
    {
        SignOutRevocation.Never when revokeGrant == true => SignOutAction.Refuse,
        SignOutRevocation.Never => SignOutAction.Delete,
        SignOutRevocation.OnRequest => revokeGrant == true ? SignOutAction.DeleteAndRevoke : SignOutAction.Delete,
        _ => revokeGrant == false ? SignOutAction.Delete : SignOutAction.DeleteAndRevoke,
    };
}
