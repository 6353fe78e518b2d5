using Microsoft.Extensions.Logging;

namespace FunctionsAuth.Api;

internal static partial class Log
{
    [LoggerMessage(6000, LogLevel.Error, "Unexpected {ExceptionType} while handling {Operation}.")]
    public static partial void UnhandledError(ILogger logger, string operation, string exceptionType, Exception exception);

    [LoggerMessage(6002, LogLevel.Warning, "{Operation}: {Dependency} is unavailable ({Failure}); answered 503 temporarily_unavailable.")]
    public static partial void DependencyUnavailable(ILogger logger, string operation, string dependency, string failure);

    [LoggerMessage(6003, LogLevel.Error, "{Operation}: secret '{SecretName}' does not exist in the secret source; answered 503 temporarily_unavailable.")]
    public static partial void SecretMissing(ILogger logger, string operation, string secretName);

    [LoggerMessage(6004, LogLevel.Information, "{Operation}: the request body could not be read ({ExceptionType}); answered 400.")]
    public static partial void UnreadableBody(ILogger logger, string operation, string exceptionType);

    [LoggerMessage(6001, LogLevel.Warning, "Health check: {Dependency} is unreachable ({ExceptionType}).")]
    public static partial void DependencyUnhealthy(ILogger logger, string dependency, string exceptionType);
}
