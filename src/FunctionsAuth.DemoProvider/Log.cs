using Microsoft.Extensions.Logging;

namespace FunctionsAuth.DemoProvider;

internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information,
        Message = "Demo OAuth server started: issuer {Issuer}, client {ClientId}, redirect URI {RedirectUri}")]
    public static partial void ServerStarted(ILogger logger, Uri issuer, string clientId, string redirectUri);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning,
        Message = "A spent refresh token was presented again; authorization {AuthorizationId} was revoked.")]
    public static partial void RefreshTokenReuseDetected(ILogger logger, string authorizationId);
}
