using Microsoft.Extensions.Logging;

namespace FunctionsAuth.Api;

internal static partial class Log
{
    [LoggerMessage(6000, LogLevel.Error, "Unexpected {ExceptionType} while handling {Operation}.")]
    public static partial void UnhandledError(ILogger logger, string operation, string exceptionType, Exception exception);

    [LoggerMessage(6001, LogLevel.Warning, "Health check: {Dependency} is unreachable ({ExceptionType}).")]
    public static partial void DependencyUnhealthy(ILogger logger, string dependency, string exceptionType);
}
