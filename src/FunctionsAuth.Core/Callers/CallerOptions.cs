namespace FunctionsAuth.Callers;

/// <summary>How FunctionsAuth tells its callers (front ends) apart; <c>FunctionsAuth:Callers</c>.</summary>
public sealed class CallerOptions
{
    /// <summary>Where a caller's identity comes from. <c>infra/</c> sets <see cref="CallerIdentitySource.AppServiceAuthentication"/> when App Service Authentication is on.</summary>
    public CallerIdentitySource Mode { get; set; } = CallerIdentitySource.SingleCaller;

    /// <summary>
    /// For <see cref="CallerIdentitySource.CallerKeys"/>: caller name → name of the secret holding its key (Key Vault,
    /// or <c>FunctionsAuth:Secrets</c> locally). Each front end gets its own name and key.
    /// </summary>
    public Dictionary<string, string> Keys { get; set; } = new(StringComparer.Ordinal);

    /// <summary>What a session created before sessions were bound to their caller (no owner recorded) does on first use.</summary>
    public UnownedSessionPolicy UnownedSessions { get; set; } = UnownedSessionPolicy.Adopt;

    /// <summary>
    /// Set from the platform, not from this section: <c>WEBSITE_AUTH_ENABLED=True</c> (App Service sets it when its
    /// authentication is on) or <c>LocalHost:TrustClientPrincipalHeader=true</c> (the local host then passes the header on).
    /// </summary>
    internal bool ClientPrincipalHeaderTrusted { get; set; }
}

public enum CallerIdentitySource
{
    /// <summary>Every caller is one and the same (<c>default</c>): a deployment with a single front end.</summary>
    SingleCaller,

    /// <summary>
    /// The calling app's client id (<c>azp</c>, else <c>appid</c>) from <c>X-MS-CLIENT-PRINCIPAL</c>, which App Service
    /// Authentication sets after validating the caller's Entra token and which external requests cannot set.
    /// </summary>
    AppServiceAuthentication,

    /// <summary>A named key per front end, sent in <c>X-FunctionsAuth-Caller-Key</c> next to the function key.</summary>
    CallerKeys,
}

public enum UnownedSessionPolicy
{
    /// <summary>The first caller to refresh the session becomes its owner (recorded); revoking it is allowed to any caller.</summary>
    Adopt,

    /// <summary>Such sessions answer <c>invalid_session</c>: every front end signs its users in again.</summary>
    Refuse,
}
