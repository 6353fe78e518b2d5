using FunctionsAuth.Sessions;
using Microsoft.Extensions.Logging;

namespace FunctionsAuth.Callers;

// Caller ids (client ids, caller names) are not secrets and are logged; caller keys and principal headers never are.
internal static partial class Log
{
    [LoggerMessage(EventId = 1300, Level = LogLevel.Warning, Message = "A request was refused: its caller could not be identified ({Reason})")]
    public static partial void CallerNotIdentified(ILogger logger, string reason);

    [LoggerMessage(EventId = 1301, Level = LogLevel.Error, Message = "The key of caller {Caller} (secret {SecretName}) is shorter than 32 characters and is not accepted; generate one with 'openssl rand -base64 32'")]
    public static partial void CallerKeyTooShort(ILogger logger, string caller, string secretName);

    [LoggerMessage(EventId = 1302, Level = LogLevel.Warning, Message = "Session {Session} was addressed by caller {Caller}, which did not create it; answered as an unknown session")]
    public static partial void ForeignSession(ILogger logger, SessionKey session, string caller);

    [LoggerMessage(EventId = 1303, Level = LogLevel.Information, Message = "Session {Session}, created before sessions were bound to their caller, now belongs to caller {Caller}")]
    public static partial void SessionAdopted(ILogger logger, SessionKey session, string caller);
}
