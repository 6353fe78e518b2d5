using System.Text.RegularExpressions;
using Cronos;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Configuration;

/// <summary>
/// The options' attributes (source-generated validators) and the rules across fields, checked at start-up so a bad
/// configuration fails the host instead of a user's request. Every failure names its setting.
/// </summary>
internal sealed partial class FunctionsAuthOptionsValidator : IValidateOptions<FunctionsAuthOptions>
{
    private static readonly FunctionsAuthOptionsAttributeValidator Attributes = new();
    private static readonly ProviderOptionsAttributeValidator ProviderAttributes = new();

    private static readonly System.Buffers.SearchValues<char> MemberNameCharacters =
        System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_, ");

    /// <summary>The provider client's worst case: every attempt times out, plus the in-line retry delays.</summary>
    internal static TimeSpan WorstCaseProviderCall(FunctionsAuthOptions options) =>
        (options.ProviderTimeout * OAuth.ProviderResilience.MaxAttempts) + (OAuth.ProviderResilience.MaxInlineRetryDelay * (OAuth.ProviderResilience.MaxAttempts - 1));

    public ValidateOptionsResult Validate(string? name, FunctionsAuthOptions options)
    {
        var failures = new List<string>();
        AddAttributeFailures(Attributes.Validate(FunctionsAuthOptions.SectionName, options), FunctionsAuthOptions.SectionName, failures);

        if (options.Storage.ConnectionString is null && options.Storage.TableServiceUri is null)
        {
            failures.Add("FunctionsAuth:Storage needs TableServiceUri (Azure, managed identity) or ConnectionString (Azurite).");
        }

        if (options.Storage.ConnectionString is null && options.Storage.QueueServiceUri is null)
        {
            failures.Add("FunctionsAuth:Storage needs QueueServiceUri (Azure, managed identity; session events go onto a queue) or ConnectionString (Azurite).");
        }

        if (options.KeyVaultUri is { } vault && vault.Scheme != Uri.UriSchemeHttps)
        {
            failures.Add("FunctionsAuth:KeyVaultUri must be an https URI.");
        }

        if (options.KeyVaultUri is null)
        {
            ValidateConfiguredEncryptionKey(options, failures);
        }

        if (options.SecretCacheDuration <= TimeSpan.Zero)
        {
            failures.Add($"FunctionsAuth:SecretCacheDuration ({options.SecretCacheDuration}) must be positive; otherwise every request reads Key Vault.");
        }

        if (options.RefreshWindow <= TimeSpan.Zero)
        {
            failures.Add("FunctionsAuth:RefreshWindow must be positive.");
        }

        if (options.DefaultMinTtl < TimeSpan.Zero || options.DefaultMinTtl >= options.RefreshWindow)
        {
            failures.Add($"FunctionsAuth:DefaultMinTtl ({options.DefaultMinTtl}) must be at least zero and below RefreshWindow ({options.RefreshWindow}); otherwise requests refresh tokens the sweeper has not reached yet.");
        }

        if (options.ProviderTimeout <= TimeSpan.Zero)
        {
            failures.Add("FunctionsAuth:ProviderTimeout must be positive.");
        }

        if (options.ActivityResolution <= TimeSpan.Zero)
        {
            failures.Add($"FunctionsAuth:ActivityResolution ({options.ActivityResolution}) must be positive; otherwise every read of a session writes its row.");
        }

        var worstCall = WorstCaseProviderCall(options);
        if (options.LeaseDuration < worstCall + TimeSpan.FromSeconds(5))
        {
            failures.Add($"FunctionsAuth:LeaseDuration ({options.LeaseDuration}) must outlive the longest provider call ({worstCall} with retries) by at least 5 seconds, or two instances could spend one refresh token.");
        }

        if (options.HandOver.MaxAccessTokenLifetime <= TimeSpan.Zero)
        {
            failures.Add($"FunctionsAuth:HandOver:MaxAccessTokenLifetime ({options.HandOver.MaxAccessTokenLifetime}) must be positive.");
        }

        ValidateCallers(options.Callers, failures);

        if (options.Registration.FailureWindow <= TimeSpan.Zero)
        {
            failures.Add($"FunctionsAuth:Registration:FailureWindow ({options.Registration.FailureWindow}) must be positive.");
        }

        ValidateSweeper(options, failures);
        ValidateEvents(options.Events, failures);

        foreach (var (providerName, provider) in options.Providers)
        {
            ValidateProvider(providerName, provider, options, failures);
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>
    /// Local development keeps the key in configuration: its shape is known at start, so a wrong one stops the host
    /// instead of failing every request. (A key in Key Vault is checked when the ring loads: the vault may be briefly
    /// unreachable at start, which must not stop the host.) The message names the setting, never the value.
    /// </summary>
    private static void ValidateCallers(FunctionsAuth.Callers.CallerOptions callers, List<string> failures)
    {
        switch (callers.Mode)
        {
            case FunctionsAuth.Callers.CallerIdentitySource.AppServiceAuthentication when !callers.ClientPrincipalHeaderTrusted:
                failures.Add("FunctionsAuth:Callers:Mode is AppServiceAuthentication, but App Service Authentication is not on (WEBSITE_AUTH_ENABLED is not True): X-MS-CLIENT-PRINCIPAL is only trusted where the platform sets it and strips copies sent by clients. Turn authentication on (infra/ does by default), or choose CallerKeys. The local host passes the header on only with LocalHost__TrustClientPrincipalHeader=true.");
                break;
            case FunctionsAuth.Callers.CallerIdentitySource.CallerKeys when callers.Keys.Count == 0:
                failures.Add("FunctionsAuth:Callers:Mode is CallerKeys, but FunctionsAuth:Callers:Keys names no caller: add FunctionsAuth__Callers__Keys__<caller name>=<secret name> for each front end.");
                break;
            case FunctionsAuth.Callers.CallerIdentitySource.CallerKeys:
                foreach (var (name, secretName) in callers.Keys)
                {
                    if (string.IsNullOrWhiteSpace(name) || name.Length > 64 || string.IsNullOrWhiteSpace(secretName))
                    {
                        failures.Add($"FunctionsAuth:Callers:Keys:{name} must name a caller (at most 64 characters) and the secret holding its key.");
                    }
                }

                break;
        }
    }

    private static void ValidateConfiguredEncryptionKey(FunctionsAuthOptions options, List<string> failures)
    {
        if (string.IsNullOrEmpty(options.EncryptionKeySecretName))
        {
            return;
        }

        var setting = $"FunctionsAuth:Secrets:{options.EncryptionKeySecretName}";
        if (!options.Secrets.TryGetValue(options.EncryptionKeySecretName, out var value) || string.IsNullOrWhiteSpace(value))
        {
            failures.Add($"{setting} is not set: without KeyVaultUri the token-encryption key comes from configuration (base64 of 32 bytes, e.g. 'openssl rand -base64 32').");
            return;
        }

        // Split as the configuration secret source splits it (several keys, newest first), decoded as the key ring decodes it.
        var keys = value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < keys.Length; i++)
        {
            try
            {
                Protection.ProtectionKey.FromBase64(options.EncryptionKeySecretName, (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), keys[i]).Dispose();
            }
            catch (Protection.InvalidProtectionKeyException)
            {
                failures.Add($"{setting}: key {i + 1} of {keys.Length} is not base64 of exactly {Protection.ProtectionKey.KeySize} bytes (AES-256; e.g. 'openssl rand -base64 32').");
            }
        }
    }

    /// <summary>
    /// The Data Protection key ring's rule: renew when expiry &lt; now + refresh period + propagation window. A token
    /// entering the window just after a run must still be refreshed by the next run, with the lease and a margin to spare.
    /// </summary>
    private static void ValidateSweeper(FunctionsAuthOptions options, List<string> failures)
    {
        var sweeper = options.Sweeper;
        if (sweeper.InitialBackoff <= TimeSpan.Zero || sweeper.MaxBackoff < sweeper.InitialBackoff)
        {
            failures.Add("FunctionsAuth:Sweeper:InitialBackoff must be positive and not above MaxBackoff.");
        }

        if (sweeper.ActivityWindow <= TimeSpan.Zero || sweeper.IdleRefreshInterval <= TimeSpan.Zero)
        {
            failures.Add("FunctionsAuth:Sweeper:ActivityWindow and IdleRefreshInterval must be positive.");
        }

        if (sweeper.MaxFailureDuration <= TimeSpan.Zero || sweeper.RetentionPeriod <= TimeSpan.Zero || sweeper.AbsoluteLifetime <= TimeSpan.Zero)
        {
            failures.Add("FunctionsAuth:Sweeper:MaxFailureDuration, RetentionPeriod and AbsoluteLifetime must be positive.");
        }

        if (sweeper.SafetyMargin < TimeSpan.Zero)
        {
            // A negative margin lets the window shrink below interval + lease, the very gap the rule below guards.
            failures.Add($"FunctionsAuth:Sweeper:SafetyMargin ({sweeper.SafetyMargin}) must not be negative.");
        }

        if (sweeper.MaxInstances > sweeper.ProviderRequestsPerSecond)
        {
            // Each worker instance gets a whole number of requests per second: below one, the shares could not add up to the limit.
            failures.Add($"FunctionsAuth:Sweeper:MaxInstances ({sweeper.MaxInstances}) must not exceed Sweeper:ProviderRequestsPerSecond ({sweeper.ProviderRequestsPerSecond}): each queue worker instance gets a whole share of the provider's rate.");
        }

        if (!QueueNamePattern().IsMatch(sweeper.QueueName))
        {
            failures.Add($"{SweeperOptions.QueueNameSetting} '{sweeper.QueueName}' must be 3 to 56 lowercase letters, digits or single hyphens, starting and ending with a letter or digit (a queue name that leaves room for '-poison').");
        }

        if (sweeper.FanOut == SweepFanOut.Queue && !sweeper.QueueConfigured)
        {
            failures.Add($"FunctionsAuth:Sweeper:FanOut is Queue but no queue connection is configured: set {Sweeping.SweepQueue.ConnectionSetting} (a connection string) or {Sweeping.SweepQueue.ConnectionSetting}__queueServiceUri.");
        }

        TimeSpan interval;
        try
        {
            interval = ScheduleInterval(sweeper.Schedule);
        }
        catch (CronFormatException)
        {
            failures.Add($"{SweeperOptions.ScheduleSetting} '{sweeper.Schedule}' is not a six-field NCRONTAB expression (e.g. '{SweeperOptions.DefaultSchedule}').");
            return;
        }

        // With the timer disabled nothing refreshes ahead of expiry (requests refresh on demand, by min_ttl), so the
        // rules that depend on the interval between runs protect nothing. Re-enabling it changes an app setting, which
        // restarts the host and runs these rules again.
        if (sweeper.TimerDisabled)
        {
            return;
        }

        var needed = interval + options.LeaseDuration + sweeper.SafetyMargin;
        if (options.RefreshWindow <= needed)
        {
            failures.Add($"FunctionsAuth:RefreshWindow ({options.RefreshWindow}) must exceed the sweeper interval ({interval}) + LeaseDuration ({options.LeaseDuration}) + Sweeper:SafetyMargin ({sweeper.SafetyMargin}) = {needed}; otherwise a token can expire between two sweeper runs.");
        }

        if (sweeper.TimeBudget <= TimeSpan.Zero || sweeper.TimeBudget >= interval)
        {
            failures.Add($"FunctionsAuth:Sweeper:TimeBudget ({sweeper.TimeBudget}) must be positive and shorter than the sweeper interval ({interval}).");
        }
    }

    private static void ValidateEvents(EventsOptions events, List<string> failures)
    {
        if (string.IsNullOrWhiteSpace(events.Source) || !Uri.TryCreate(events.Source, UriKind.RelativeOrAbsolute, out _))
        {
            failures.Add($"FunctionsAuth:Events:Source ('{events.Source}') must be a URI reference (CloudEvents 'source').");
        }

        if (events.WebhookUrl is { } webhook && (!webhook.IsAbsoluteUri || !OAuth.ProviderRegistry.IsAllowedEndpoint(webhook)))
        {
            failures.Add($"FunctionsAuth:Events:WebhookUrl must be an absolute https URI (plain http only on loopback).");
        }

        if (events.WebhookUrl is not null && string.IsNullOrWhiteSpace(events.WebhookSecretName))
        {
            failures.Add("FunctionsAuth:Events:WebhookSecretName must name the webhook signing secret when WebhookUrl is set.");
        }

        if (events.WebhookTimeout <= TimeSpan.Zero)
        {
            failures.Add($"FunctionsAuth:Events:WebhookTimeout ({events.WebhookTimeout}) must be positive.");
        }
    }

    /// <summary>Storage queue names: 3-63 lowercase letters, digits and single hyphens; 56 at most here, for the poison queue's suffix.</summary>
    [GeneratedRegex("^(?=.{3,56}$)[a-z0-9]+(-[a-z0-9]+)*$")]
    private static partial Regex QueueNamePattern();

    /// <summary>The longest gap between two consecutive occurrences of an NCRONTAB schedule (seconds field first).</summary>
    internal static TimeSpan ScheduleInterval(string schedule)
    {
        var expression = CronExpression.Parse(schedule, CronFormat.IncludeSeconds);

        // A fixed reference keeps the answer independent of when the host starts; a week covers every schedule shape.
        var from = new DateTime(2025, 1, 6, 0, 0, 0, DateTimeKind.Utc);
        var longest = TimeSpan.Zero;
        var previous = from;
        foreach (var next in expression.GetOccurrences(from, from.AddDays(8), TimeZoneInfo.Utc, fromInclusive: false))
        {
            var gap = next - previous;
            longest = gap > longest ? gap : longest;
            previous = next;
        }

        return longest == TimeSpan.Zero ? TimeSpan.FromDays(8) : longest;
    }

    private static void ValidateProvider(string name, ProviderOptions provider, FunctionsAuthOptions options, List<string> failures)
    {
        var prefix = $"FunctionsAuth:Providers:{name}";

        // [ValidateEnumeratedItems] cannot reach a dictionary's values (the generator would validate the KeyValuePair
        // items and refuses to: SYSLIB1202), so each provider's attributes run here, named by the provider's prefix.
        AddAttributeFailures(ProviderAttributes.Validate(prefix, provider), prefix, failures);

        switch (provider.Kind)
        {
            case ProviderKind.Oidc when provider.Issuer is null && provider.TokenEndpoint is null:
                failures.Add($"{prefix} needs Issuer (OpenID Connect discovery) or TokenEndpoint.");
                break;
            case ProviderKind.Oidc when IsEntraMultiTenantIssuer(provider.Issuer):
                failures.Add($"{prefix}:Issuer {provider.Issuer} is Entra ID's multi-tenant endpoint, whose discovery document names the issuer 'https://login.microsoftonline.com/{{tenantid}}/v2.0', so generic OpenID Connect discovery cannot verify it: use Kind=Entra with TenantId={provider.Issuer!.Segments[1].TrimEnd('/')} instead.");
                break;
            case ProviderKind.Entra:
                if (string.IsNullOrWhiteSpace(provider.TenantId))
                {
                    failures.Add($"{prefix}:TenantId is required for Entra ID (a tenant id, domain, 'organizations' or 'common').");
                }

                if (string.IsNullOrWhiteSpace(provider.Scopes))
                {
                    // Entra ID refuses a refresh without a scope (AADSTS90009): every refresh would fail.
                    failures.Add($"{prefix}:Scopes is required for Entra ID: the resource the access token is for, then offline_access (e.g. 'api://<app-id>/.default offline_access').");
                }

                if (provider.Instance is { IsAbsoluteUri: true, AbsolutePath: not "/" } instance)
                {
                    failures.Add($"{prefix}:Instance is the cloud's login host alone (e.g. https://login.microsoftonline.us/), not {instance.GetLeftPart(UriPartial.Path)}: the tenant goes in TenantId.");
                }

                break;
        }

        if (provider.Instance is not null && provider.Kind != ProviderKind.Entra)
        {
            failures.Add($"{prefix}:Instance is Entra ID's login host; it needs Kind=Entra (other providers take Issuer or TokenEndpoint).");
        }

        ValidateClientAuthentication(prefix, provider, options, failures);

        if (provider.AllowedScopes is { } allowedScopes && Sessions.TokenScope.Tokens(allowedScopes).Where(t => !Sessions.TokenScope.IsScopeToken(t)).ToList() is { Count: > 0 } badScopes)
        {
            failures.Add($"{prefix}:AllowedScopes has {badScopes.Count} entries that are not scope tokens (RFC 6749 §3.3: printable ASCII other than '\"' and '\\', separated by spaces).");
        }

        if (provider.AllowedResources is { } allowedResources && Sessions.TokenScope.Tokens(allowedResources).FirstOrDefault(r => !Sessions.TokenScope.IsResource(r)) is { } badResource)
        {
            failures.Add($"{prefix}:AllowedResources entry '{badResource}' is not an absolute URI without a fragment (RFC 8707).");
        }

        if (provider.ActivityWindow is { } window && window <= TimeSpan.Zero)
        {
            failures.Add($"{prefix}:ActivityWindow ({window}) must be positive (leave it unset for the sweeper's).");
        }

        foreach (var endpoint in new[] { provider.Issuer, provider.Instance, provider.TokenEndpoint, provider.RevocationEndpoint, provider.UserInfoEndpoint })
        {
            if (endpoint is not null && !OAuth.ProviderRegistry.IsAllowedEndpoint(endpoint))
            {
                failures.Add($"{prefix}: {endpoint.GetLeftPart(UriPartial.Path)} must use https (plain http only on loopback).");
            }
        }
    }

    /// <summary>
    /// One credential per client, the one its method uses: a secret left beside a certificate would be a credential
    /// nobody means to keep. A PEM kept in configuration (local development) is parsed here, so a broken one stops the
    /// host instead of failing every sign-in; its value never reaches the message.
    /// </summary>
    private static void ValidateClientAuthentication(string prefix, ProviderOptions provider, FunctionsAuthOptions options, List<string> failures)
    {
        var hasSecret = !string.IsNullOrWhiteSpace(provider.ClientSecretName);
        var hasCertificate = !string.IsNullOrWhiteSpace(provider.ClientCertificateName);
        switch (provider.ClientAuthentication)
        {
            case ClientAuthenticationMethod.PrivateKeyJwt or ClientAuthenticationMethod.Auto when hasCertificate || provider.ClientAuthentication == ClientAuthenticationMethod.PrivateKeyJwt:
                if (!hasCertificate)
                {
                    failures.Add($"{prefix}:ClientCertificateName is required with ClientAuthentication=PrivateKeyJwt (the Key Vault certificate that signs client assertions; locally, FunctionsAuth:Secrets:<name> holding a PEM).");
                }

                if (hasSecret)
                {
                    failures.Add($"{prefix}: set ClientSecretName or ClientCertificateName, not both (ClientAuthentication {provider.ClientAuthentication} signs with the certificate; remove the secret).");
                }

                if (provider.ClientAssertionFormat == ClientAssertionFormat.Rfc7523bis && provider.Issuer is null)
                {
                    failures.Add($"{prefix}: ClientAssertionFormat=Rfc7523bis addresses assertions to the issuer; set Issuer.");
                }

                if (hasCertificate && options.KeyVaultUri is null)
                {
                    var setting = $"FunctionsAuth:Secrets:{provider.ClientCertificateName}";
                    if (!options.Secrets.TryGetValue(provider.ClientCertificateName!, out var pem) || string.IsNullOrWhiteSpace(pem))
                    {
                        failures.Add($"{setting} is not set: without KeyVaultUri the client certificate comes from configuration (a PEM: certificate and private key, or the private key alone).");
                    }
                    else
                    {
                        try
                        {
                            Secrets.SigningKeys.FromPem(provider.ClientCertificateName!, pem);
                        }
                        catch (Secrets.InvalidClientCertificateException ex)
                        {
                            failures.Add($"{setting}: {ex.Reason}.");
                        }
                    }
                }

                break;

            case ClientAuthenticationMethod.ManagedIdentity:
                if (provider.Kind != ProviderKind.Entra)
                {
                    failures.Add($"{prefix}: ClientAuthentication=ManagedIdentity is Entra ID's federated identity credential; it needs Kind=Entra.");
                }

                if (provider.TokenExchangeAudience is { Length: > 0 } audience)
                {
                    if (!Uri.TryCreate(audience, UriKind.Absolute, out _))
                    {
                        failures.Add($"{prefix}:TokenExchangeAudience '{audience}' is not an absolute URI (Entra's are api://AzureADTokenExchange<cloud>).");
                    }
                }
                else if (provider.Instance is { IsAbsoluteUri: true } instance && OAuth.EntraClouds.TokenExchangeAudience(instance) is null)
                {
                    failures.Add($"{prefix}: Instance {instance.Host} is not a cloud whose managed-identity exchange audience is known ({string.Join(", ", OAuth.EntraClouds.KnownHosts)}); set TokenExchangeAudience to the one the app registration's federated credential lists.");
                }

                if (hasSecret || hasCertificate)
                {
                    failures.Add($"{prefix}: ClientAuthentication=ManagedIdentity uses no secret or certificate; remove ClientSecretName and ClientCertificateName.");
                }

                break;

            default:
                if (hasCertificate)
                {
                    failures.Add($"{prefix}: ClientCertificateName is set but ClientAuthentication is {provider.ClientAuthentication}; use PrivateKeyJwt (or Auto) to sign with it.");
                }

                break;
        }

        if (provider.ClientAuthentication != ClientAuthenticationMethod.ManagedIdentity && !string.IsNullOrEmpty(provider.TokenExchangeAudience))
        {
            failures.Add($"{prefix}:TokenExchangeAudience is set but ClientAuthentication is {provider.ClientAuthentication}; it is the managed identity's audience (ClientAuthentication=ManagedIdentity).");
        }
    }

    /// <summary>
    /// The generator names a member by its path from the name it was given (<c>FunctionsAuth.Sweeper.Parallelism</c>) and
    /// puts the member's own name in front (<c>Parallelism: ...</c>); operators set <c>FunctionsAuth:Sweeper:Parallelism</c>,
    /// so the message says that.
    /// </summary>
    private static void AddAttributeFailures(ValidateOptionsResult result, string root, List<string> failures)
    {
        if (!result.Failed || result.Failures is null)
        {
            return;
        }

        var path = new Regex(Regex.Escape(root) + @"((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", RegexOptions.CultureInvariant);
        foreach (var failure in result.Failures)
        {
            var separator = failure.IndexOf(": ", StringComparison.Ordinal);
            var message = separator > 0 && failure.AsSpan(0, separator).IndexOfAnyExcept(MemberNameCharacters) < 0 ? failure[(separator + 2)..] : failure;
            failures.Add(path.Replace(message, match => root + match.Groups[1].Value.Replace('.', ':')));
        }
    }

    /// <summary>Entra ID's <c>common</c>, <c>organizations</c> and <c>consumers</c> authorities: one document for many tenants, its issuer a template.</summary>
    internal static bool IsEntraMultiTenantIssuer(Uri? issuer) =>
        issuer is { IsAbsoluteUri: true, Segments.Length: >= 2 }
        && issuer.Host.Equals("login.microsoftonline.com", StringComparison.OrdinalIgnoreCase)
        && issuer.Segments[1].TrimEnd('/').ToUpperInvariant() is "COMMON" or "ORGANIZATIONS" or "CONSUMERS";
}

/// <summary>The attributes of <see cref="FunctionsAuthOptions"/>, nested members included (source-generated); run by <see cref="FunctionsAuthOptionsValidator"/>.</summary>
[OptionsValidator]
internal sealed partial class FunctionsAuthOptionsAttributeValidator : IValidateOptions<FunctionsAuthOptions>;

/// <summary>One provider's attributes; <see cref="FunctionsAuthOptionsValidator"/> runs it for each entry of <see cref="FunctionsAuthOptions.Providers"/>.</summary>
[OptionsValidator]
internal sealed partial class ProviderOptionsAttributeValidator : IValidateOptions<ProviderOptions>;
