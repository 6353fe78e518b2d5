using Microsoft.Extensions.Logging;

namespace FunctionsAuth.OAuth;

internal static partial class Log
{
    [LoggerMessage(2000, LogLevel.Information, "Discovery document of provider {Provider} loaded.")]
    public static partial void DiscoveryLoaded(ILogger logger, string provider);

    [LoggerMessage(2001, LogLevel.Warning, "Discovery document of provider {Provider} could not be fetched.")]
    public static partial void DiscoveryUnavailable(ILogger logger, string provider);

    [LoggerMessage(2002, LogLevel.Warning, "Token request ({GrantType}) to provider {Provider} failed: {Failure} ({Error}).")]
    public static partial void TokenRequestFailed(ILogger logger, string provider, string grantType, TokenFailureKind failure, string error);

    [LoggerMessage(2003, LogLevel.Information, "Retrying token request ({GrantType}) to provider {Provider} after {Error}, attempt {Attempt}, in {DelayMs} ms.")]
    public static partial void RetryingTokenRequest(ILogger logger, string provider, string grantType, string error, int attempt, int delayMs);

    [LoggerMessage(2009, LogLevel.Warning, "The answer to a refresh at provider {Provider} was lost ({Error}); sending the same refresh token again at once, inside the provider's reuse interval.")]
    public static partial void RetryingInsideReuseInterval(ILogger logger, string provider, string error);

    [LoggerMessage(2004, LogLevel.Warning, "Provider {Provider} answered invalid_client: reloading the client secret and retrying once.")]
    public static partial void ClientSecretReloaded(ILogger logger, string provider);

    [LoggerMessage(2006, LogLevel.Error, "Provider {Provider} cannot be used: {Problem}")]
    public static partial void DiscoveryInvalid(ILogger logger, string provider, string problem);

    [LoggerMessage(2007, LogLevel.Warning, "Provider {Provider} (Entra ID) has no offline_access in Scopes: Entra ID then issues no new refresh token, and sessions end when the old one expires.")]
    public static partial void EntraWithoutOfflineAccess(ILogger logger, string provider);

    [LoggerMessage(2006, LogLevel.Warning, "Circuit for provider {Provider} opened: most recent token requests failed; no calls for {BreakSeconds} s.")]
    public static partial void CircuitOpened(ILogger logger, string provider, int breakSeconds);

    [LoggerMessage(2007, LogLevel.Information, "Circuit for provider {Provider} half-open: one probe request goes through.")]
    public static partial void CircuitHalfOpened(ILogger logger, string provider);

    [LoggerMessage(2008, LogLevel.Information, "Circuit for provider {Provider} closed: the provider answers again.")]
    public static partial void CircuitClosed(ILogger logger, string provider);

    [LoggerMessage(2005, LogLevel.Warning, "Revocation at provider {Provider} failed: {Error}.")]
    public static partial void RevocationFailed(ILogger logger, string provider, string error);

    [LoggerMessage(2020, LogLevel.Information, "Provider {Provider} did not vouch for a handed-over access token: {Check}.")]
    public static partial void AccessTokenNotVouched(ILogger logger, string provider, AccessTokenCheck check);
}
