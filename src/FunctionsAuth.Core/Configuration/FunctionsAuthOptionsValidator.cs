using Cronos;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Configuration;

/// <summary>Rules across fields, checked at start-up so a bad configuration fails the host instead of a user's request.</summary>
internal sealed class FunctionsAuthOptionsValidator : IValidateOptions<FunctionsAuthOptions>
{
    /// <summary>The provider client's worst case: every attempt times out, plus the in-line retry delays.</summary>
    internal static TimeSpan WorstCaseProviderCall(FunctionsAuthOptions options) =>
        (options.ProviderTimeout * OAuth.OAuthClient.MaxAttempts) + (OAuth.OAuthClient.MaxInlineRetryDelay * (OAuth.OAuthClient.MaxAttempts - 1));

    public ValidateOptionsResult Validate(string? name, FunctionsAuthOptions options)
    {
        var failures = new List<string>();

        if (options.Storage.ConnectionString is null && options.Storage.TableServiceUri is null)
        {
            failures.Add("FunctionsAuth:Storage needs TableServiceUri (Azure, managed identity) or ConnectionString (Azurite).");
        }

        if (options.KeyVaultUri is { } vault && vault.Scheme != Uri.UriSchemeHttps)
        {
            failures.Add("FunctionsAuth:KeyVaultUri must be an https URI.");
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

        var worstCall = WorstCaseProviderCall(options);
        if (options.LeaseDuration < worstCall + TimeSpan.FromSeconds(5))
        {
            failures.Add($"FunctionsAuth:LeaseDuration ({options.LeaseDuration}) must outlive the longest provider call ({worstCall} with retries) by at least 5 seconds, or two instances could spend one refresh token.");
        }

        ValidateSweeper(options, failures);

        foreach (var (providerName, provider) in options.Providers)
        {
            ValidateProvider(providerName, provider, failures);
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>
    /// The Data Protection key ring's rule: renew when expiry &lt; now + refresh period + propagation window. A token
    /// entering the window just after a run must still be refreshed by the next run, with the lease and a margin to spare.
    /// </summary>
    private static void ValidateSweeper(FunctionsAuthOptions options, List<string> failures)
    {
        var sweeper = options.Sweeper;
        TimeSpan interval;
        try
        {
            interval = ScheduleInterval(sweeper.Schedule);
        }
        catch (CronFormatException)
        {
            failures.Add($"{SweeperOptions.ScheduleSetting} '{sweeper.Schedule}' is not a six-field NCRONTAB expression (e.g. '0 */5 * * * *').");
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
    }

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

    private static void ValidateProvider(string name, ProviderOptions provider, List<string> failures)
    {
        var prefix = $"FunctionsAuth:Providers:{name}";
        if (string.IsNullOrWhiteSpace(provider.ClientId))
        {
            failures.Add($"{prefix}:ClientId is required.");
        }

        switch (provider.Kind)
        {
            case ProviderKind.Oidc when provider.Issuer is null && provider.TokenEndpoint is null:
                failures.Add($"{prefix} needs Issuer (OpenID Connect discovery) or TokenEndpoint.");
                break;
            case ProviderKind.Entra when string.IsNullOrWhiteSpace(provider.TenantId):
                failures.Add($"{prefix}:TenantId is required for Entra ID (a tenant id, domain, 'organizations' or 'common').");
                break;
        }

        foreach (var endpoint in new[] { provider.Issuer, provider.TokenEndpoint, provider.RevocationEndpoint })
        {
            if (endpoint is not null && !OAuth.ProviderRegistry.IsAllowedEndpoint(endpoint))
            {
                failures.Add($"{prefix}: {endpoint.GetLeftPart(UriPartial.Path)} must use https (plain http only on loopback).");
            }
        }
    }
}
