using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Configuration;

/// <summary>The <c>FunctionsAuth</c> configuration section (app settings use <c>__</c>: <c>FunctionsAuth__RefreshWindow</c>).</summary>
public sealed class FunctionsAuthOptions
{
    public const string SectionName = "FunctionsAuth";

    /// <summary>Key Vault holding client secrets and the token-encryption key. Empty: secrets come from <see cref="Secrets"/> (local development only).</summary>
    [RequiredInAzure]
    public Uri? KeyVaultUri { get; set; }

    /// <summary>Name of the secret holding the AES-256 token-encryption key (base64, 32 bytes). Every enabled version decrypts; the newest encrypts.</summary>
    [Required(ErrorMessage = "{0} is required.")]
    public string EncryptionKeySecretName { get; set; } = "token-encryption-key";

    /// <summary>How long secrets read from Key Vault are kept in memory.</summary>
    public TimeSpan SecretCacheDuration { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Local development only: secret name → value, used when <see cref="KeyVaultUri"/> is not set.</summary>
    public Dictionary<string, string> Secrets { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Refresh an access token this long before it expires (sweeper and request path).</summary>
    public TimeSpan RefreshWindow { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary><c>min_ttl</c> when a caller does not send one.</summary>
    public TimeSpan DefaultMinTtl { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Time-out of one call to a provider's token endpoint.</summary>
    public TimeSpan ProviderTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How long a refresh lease on a session row lasts. Must outlive <see cref="ProviderTimeout"/> (with its retries).</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Record that a session was used at most this often (one extra write per session per interval).</summary>
    public TimeSpan ActivityResolution { get; set; } = TimeSpan.FromMinutes(15);

    // Without these the attributes of the nested options never run: DataAnnotations validation does not recurse.
    [Required(ErrorMessage = "{0} is required.")]
    [ValidateObjectMembers]
    public StorageOptions Storage { get; set; } = new();

    [ValidateObjectMembers]
    public SweeperOptions Sweeper { get; set; } = new();

    public HandOverOptions HandOver { get; set; } = new();

    [ValidateObjectMembers]
    public RegistrationOptions Registration { get; set; } = new();

    [ValidateObjectMembers]
    public EventsOptions Events { get; set; } = new();

    /// <summary>How callers (front ends) are told apart; sessions are bound to the caller that created them.</summary>
    public FunctionsAuth.Callers.CallerOptions Callers { get; set; } = new();

    /// <summary>OAuth providers by the name front ends send as <c>provider</c>.</summary>
    /// <remarks>
    /// Validated one provider at a time by the cross-field validator: on a dictionary, <c>[ValidateEnumeratedItems]</c>
    /// makes the options generator validate <c>KeyValuePair</c> items, which it refuses (SYSLIB1202).
    /// </remarks>
    public Dictionary<string, ProviderOptions> Providers { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}

/// <summary>The hand-over form of <c>POST /api/auth/sessions</c> (tokens the front end redeemed itself).</summary>
public sealed class HandOverOptions
{
    /// <summary>Off: only the code form registers sessions; a hand-over answers <c>400 invalid_request</c>.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// The longest lifetime a handed-over access token is stored with. A token that is not a readable JWT says nothing
    /// about its own expiry, so a claimed <c>expires_at</c> beyond this is cut to it (the sweeper then refreshes early).
    /// </summary>
    public TimeSpan MaxAccessTokenLifetime { get; set; } = TimeSpan.FromHours(1);
}

/// <summary>Limits on failed registrations (the provider refused the code, refresh token or access token).</summary>
public sealed class RegistrationOptions
{
    /// <summary>Refused registrations allowed per caller and <see cref="FailureWindow"/>; once spent, registrations answer <c>429</c>.</summary>
    [Range(1, 100_000)]
    public int FailureLimit { get; set; } = 20;

    public TimeSpan FailureWindow { get; set; } = TimeSpan.FromMinutes(1);
}

public sealed class StorageOptions
{
    private const string TableNamePattern = "^[A-Za-z][A-Za-z0-9]{2,62}$";
    private const string TableNameRule = "{0} must be 3 to 63 letters or digits, starting with a letter (Table Storage's rule).";

    /// <summary>Table service endpoint, reached with the managed identity (production).</summary>
    [RequiredInAzure]
    public Uri? TableServiceUri { get; set; }

    /// <summary>Queue service endpoint (session events), reached with the managed identity (production).</summary>
    [RequiredInAzure]
    public Uri? QueueServiceUri { get; set; }

    /// <summary>Connection string (Azurite / local development). Wins over <see cref="TableServiceUri"/> and <see cref="QueueServiceUri"/> when set.</summary>
    public string? ConnectionString { get; set; }

    [Required(ErrorMessage = "{0} is required.")]
    [RegularExpression(TableNamePattern, ErrorMessage = TableNameRule)]
    public string SessionsTable { get; set; } = "sessions";

    [Required(ErrorMessage = "{0} is required.")]
    [RegularExpression(TableNamePattern, ErrorMessage = TableNameRule)]
    public string DueIndexTable { get; set; } = "sessiondue";
}

public sealed class SweeperOptions
{
    /// <summary>App setting holding the timer's NCRONTAB schedule (flat name: the Functions host resolves <c>%SweeperSchedule%</c>).</summary>
    public const string ScheduleSetting = "SweeperSchedule";

    public const string DefaultSchedule = "0 */5 * * * *";

    /// <summary>The Functions host's switch for the sweeper timer (the local host honours it too).</summary>
    public const string DisabledSetting = "AzureWebJobs.Sweeper.Disabled";

    /// <summary>Copied from the <see cref="ScheduleSetting"/> app setting (its default when unset); used to check the refresh window covers two runs.</summary>
    public string Schedule { get; set; } = DefaultSchedule;

    /// <summary>Copied from <see cref="DisabledSetting"/>. Internal, so the configuration binder leaves it alone.</summary>
    internal bool TimerDisabled { get; set; }

    /// <summary>The schedule the timer runs on: the <see cref="ScheduleSetting"/> app setting, or <see cref="DefaultSchedule"/> when it is unset.</summary>
    public static string ResolveSchedule(IConfiguration configuration) =>
        configuration[ScheduleSetting] is { Length: > 0 } schedule ? schedule : DefaultSchedule;

    public static bool IsTimerDisabled(IConfiguration configuration) =>
        bool.TryParse(configuration[DisabledSetting], out var disabled) && disabled;

    [Range(1, 256)]
    public int Parallelism { get; set; } = 16;

    /// <summary>A run stops taking new work after this long; the next run continues. Keep well inside <c>functionTimeout</c>.</summary>
    public TimeSpan TimeBudget { get; set; } = TimeSpan.FromMinutes(4);

    /// <summary>Sessions used within this window are refreshed proactively; idle ones on demand.</summary>
    public TimeSpan ActivityWindow { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Refresh an idle session this often anyway so its refresh token does not lapse from disuse.</summary>
    public TimeSpan IdleRefreshInterval { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Slack added to schedule interval + lease when checking the refresh window.</summary>
    public TimeSpan SafetyMargin { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Provider token requests per second, per provider, from all sweeping together (over any one-second window): an
    /// in-process run takes all of it, a queue worker instance <see cref="MaxInstances"/>'s share of it.
    /// </summary>
    [Range(1, 10_000)]
    public int ProviderRequestsPerSecond { get; set; } = 50;

    /// <summary>App setting naming the sweep work-item queue (flat: the queue trigger resolves <c>%SweepQueueName%</c>).</summary>
    public const string QueueNameSetting = "SweepQueueName";

    public const string DefaultQueueName = "functionsauth-sweep";

    /// <summary>Copied from the <see cref="QueueNameSetting"/> app setting (its default when unset). Internal, so the binder leaves it alone.</summary>
    internal string QueueName { get; set; } = DefaultQueueName;

    /// <summary>Whether the queue connection (<c>AzureWebJobsStorage</c>, as the queue trigger reads it) is configured.</summary>
    internal bool QueueConfigured { get; set; }

    public static string ResolveQueueName(IConfiguration configuration) =>
        configuration[QueueNameSetting] is { Length: > 0 } name ? name : DefaultQueueName;

    /// <summary>Where a run's work goes: <see cref="SweepFanOut.Auto"/> sweeps in process below <see cref="FanOutThreshold"/> due sessions.</summary>
    public SweepFanOut FanOut { get; set; } = SweepFanOut.Auto;

    /// <summary>With <see cref="SweepFanOut.Auto"/>: runs with more due index rows than this hand them to the queue.</summary>
    [Range(0, 1_000_000)]
    public int FanOutThreshold { get; set; } = 1_000;

    /// <summary>Most due index rows per work item (queue message).</summary>
    [Range(1, 200)]
    public int WorkItemSize { get; set; } = 100;

    /// <summary>
    /// How many instances may run queue workers at once: the Flex Consumption plan's <c>maximumInstanceCount</c>
    /// (infra/ sets it). Each worker instance gets <see cref="ProviderRequestsPerSecond"/> / this, so the sum holds.
    /// </summary>
    [Range(1, 1_000)]
    public int MaxInstances { get; set; } = 1;

    /// <summary>First back-off after a transient failure; doubles per failure (with jitter) up to <see cref="MaxBackoff"/>.</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromMinutes(1);

    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>After failing continuously this long, a session is marked failed and reported instead of retried.</summary>
    public TimeSpan MaxFailureDuration { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Revoked and reauth-required sessions are purged after this long.</summary>
    public TimeSpan RetentionPeriod { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Sessions older than this are purged whatever their state.</summary>
    public TimeSpan AbsoluteLifetime { get; set; } = TimeSpan.FromDays(90);
}

/// <summary>Where a sweeper run's due sessions are refreshed.</summary>
public enum SweepFanOut
{
    /// <summary>In process while the due sessions are few (<see cref="SweeperOptions.FanOutThreshold"/>) and no work items are queued; the queue beyond.</summary>
    Auto,

    /// <summary>Always in the timer's own process (no queue needed).</summary>
    InProcess,

    /// <summary>Always as work items on the queue.</summary>
    Queue,
}

public enum ProviderKind
{
    Oidc,
    Google,
    Entra,
}

public enum ClientAuthenticationMethod
{
    /// <summary>From discovery (<c>token_endpoint_auth_methods_supported</c>); <c>client_secret_basic</c> when it does not say.</summary>
    Auto,

    /// <summary><c>client_secret_basic</c>: the client secret in an HTTP Basic header.</summary>
    ClientSecretBasic,

    /// <summary><c>client_secret_post</c>: the client secret in the form body.</summary>
    ClientSecretPost,

    /// <summary>
    /// <c>private_key_jwt</c> (RFC 7523): a short-lived JWT signed with <see cref="ProviderOptions.ClientCertificateName"/>'s
    /// private key, built for each request. No shared secret crosses the wire.
    /// </summary>
    PrivateKeyJwt,

    /// <summary>
    /// Entra ID with the Function App's managed identity as a federated identity credential: the client assertion is the
    /// identity's token for the cloud's exchange audience (<c>api://AzureADTokenExchange</c> on the global service; see
    /// <see cref="ProviderOptions.TokenExchangeAudience"/>). No secret or certificate exists anywhere.
    /// </summary>
    ManagedIdentity,
}

/// <summary>Whether signing out (<c>POST /api/auth/revoke</c>) revokes the grant at the provider as well as deleting the session.</summary>
public enum SignOutRevocation
{
    /// <summary><see cref="Never"/> for Google (<c>Kind=Google</c>, or the issuer <c>https://accounts.google.com</c>), <see cref="Always"/> for every other provider.</summary>
    Auto,

    /// <summary>
    /// Revoke on every sign-out (RFC 7009), unless the app sends <c>"revoke_grant": false</c>: right where each sign-in gets
    /// a grant of its own (OpenIddict, Auth0, Okta, Keycloak).
    /// </summary>
    Always,

    /// <summary>Delete the session only; revoke when the app sends <c>"revoke_grant": true</c> (a "disconnect this app" button).</summary>
    OnRequest,

    /// <summary>
    /// Delete the session only, and refuse <c>"revoke_grant": true</c>. Google's revocation ends the app's whole grant for
    /// the user, so signing out on one device would end the same user's sessions on every other (they turn
    /// <c>reauth_required</c>).
    /// </summary>
    Never,
}

/// <summary>Two generations of <c>private_key_jwt</c> assertion; a provider accepts the one it was built for.</summary>
public enum ClientAssertionFormat
{
    /// <summary>RFC 7523 as Entra ID, Okta, Auth0 and Keycloak check it: <c>aud</c> = the token endpoint, <c>typ</c> <c>JWT</c>.</summary>
    Rfc7523,

    /// <summary>
    /// draft-ietf-oauth-rfc7523bis (OpenIddict 7 requires it): <c>aud</c> = the issuer, <c>typ</c>
    /// <c>client-authentication+jwt</c>, so an assertion cannot be replayed at another endpoint or taken for another JWT.
    /// </summary>
    Rfc7523bis,
}

public sealed class ProviderOptions
{
    public ProviderKind Kind { get; set; } = ProviderKind.Oidc;

    /// <summary>OpenID Connect issuer (discovery at <c>/.well-known/openid-configuration</c>). Preset for Google and Entra.</summary>
    public Uri? Issuer { get; set; }

    /// <summary>Entra ID tenant (id, domain, <c>organizations</c> or <c>common</c>).</summary>
    public string? TenantId { get; set; }

    /// <summary>
    /// Entra ID only: the cloud's login host, as Microsoft.Identity.Web's <c>Instance</c> (default
    /// <c>https://login.microsoftonline.com/</c>; US Government <c>https://login.microsoftonline.us/</c>, China
    /// <c>https://login.partner.microsoftonline.cn/</c>). The token endpoint and the managed identity's exchange audience follow from it.
    /// </summary>
    public Uri? Instance { get; set; }

    /// <summary>
    /// <see cref="ClientAuthenticationMethod.ManagedIdentity"/> only: the audience of the managed identity's token, which the
    /// app registration's federated credential must list. Unset: the one Microsoft publishes for <see cref="Instance"/>'s
    /// cloud (<c>api://AzureADTokenExchange</c> for the global service); required for a cloud not in that list.
    /// </summary>
    public string? TokenExchangeAudience { get; set; }

    [Required(ErrorMessage = "{0} is required.")]
    public string ClientId { get; set; } = "";

    /// <summary>Name of the secret holding the client secret (in Key Vault, or in <c>Secrets</c> locally). Empty for public clients.</summary>
    public string? ClientSecretName { get; set; }

    /// <summary>Space-separated scopes requested on refresh (empty: the grant's own scopes).</summary>
    public string? Scopes { get; set; }

    public ClientAuthenticationMethod ClientAuthentication { get; set; } = ClientAuthenticationMethod.Auto;

    /// <summary>
    /// Space-separated scopes a front end may ask a token for (<c>scope</c> on <c>POST /api/auth/refresh</c>), each
    /// request a subset. Unset: a subset of the scope the session was granted (RFC 6749 §6: a refresh narrows, never
    /// widens). Entra ID needs it: one refresh token mints tokens for several resources
    /// (<c>https://graph.microsoft.com/.default api://&lt;app-id&gt;/.default</c>), none of which is in the granted scope.
    /// </summary>
    public string? AllowedScopes { get; set; }

    /// <summary>
    /// Space-separated absolute URIs a front end may ask a token for (<c>resource</c>, RFC 8707), matched exactly.
    /// Unset: no resource may be asked for.
    /// </summary>
    public string? AllowedResources { get; set; }

    /// <summary>
    /// <see cref="ClientAuthenticationMethod.PrivateKeyJwt"/> only: the Key Vault certificate that signs client assertions
    /// (its private key is read as the secret of the same name); without Key Vault, <c>FunctionsAuth:Secrets:&lt;name&gt;</c>
    /// holding a PEM (certificate and private key, or the private key alone).
    /// </summary>
    public string? ClientCertificateName { get; set; }

    /// <summary>
    /// This provider's <see cref="SweeperOptions.ActivityWindow"/>: sessions used within it are refreshed ahead of expiry.
    /// Unset: the sweeper's, cut to the refresh token's own lifetime where the provider tells it (<c>refresh_expires_in</c>),
    /// because each refresh extends the provider's idle session (Keycloak's SSO Session Idle) and a longer window would
    /// keep it alive for a user who left.
    /// </summary>
    public TimeSpan? ActivityWindow { get; set; }

    /// <summary>
    /// Whether idle sessions are refreshed every <see cref="SweeperOptions.IdleRefreshInterval"/> so their refresh token
    /// does not lapse from disuse. Unset: yes, except for sessions whose provider said when the refresh token dies
    /// (<c>refresh_expires_in</c>): there the idle timeout is the provider's policy, not an accident to work around.
    /// </summary>
    public bool? KeepAlive { get; set; }

    /// <summary>Whether sign-out revokes the grant at the provider; see <see cref="Configuration.SignOutRevocation"/>.</summary>
    public SignOutRevocation SignOutRevocation { get; set; } = SignOutRevocation.Auto;

    /// <summary>The shape of <c>private_key_jwt</c> assertions: what the provider checks <c>aud</c> and <c>typ</c> against.</summary>
    public ClientAssertionFormat ClientAssertionFormat { get; set; } = ClientAssertionFormat.Rfc7523;

    /// <summary>Overrides discovery; required when the provider has no discovery document.</summary>
    public Uri? TokenEndpoint { get; set; }

    /// <summary>RFC 7009 endpoint; overrides discovery.</summary>
    public Uri? RevocationEndpoint { get; set; }

    /// <summary>OpenID Connect userinfo endpoint, where a handed-over access token is verified; overrides discovery (preset for Google).</summary>
    public Uri? UserInfoEndpoint { get; set; }

    /// <summary>
    /// How long the provider keeps accepting a refresh token after it rotated it (Auth0 "reuse interval", Okta "grace
    /// period", OpenIddict's reuse leeway). Zero (the default): a refresh whose answer was lost (time-out, dropped
    /// connection after sending) is not sent again in line. Positive: it is sent again at once, with the same refresh
    /// token, once, while this interval since sending has not passed, so the session recovers within the same call.
    /// Set it only to what the provider is configured with: beyond it, a provider with reuse detection ends the grant.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan RefreshTokenReuseInterval { get; set; }
}

/// <summary>Setting that a deployment to Azure must provide (local development can do without). <c>infra/</c> is checked against these.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class RequiredInAzureAttribute : Attribute;
