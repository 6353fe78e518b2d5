using Microsoft.Extensions.Logging;

namespace FunctionsAuth.Storage;

internal static partial class Log
{
    [LoggerMessage(4000, LogLevel.Information, "Table {Table} was not created by the app (no permission); the deployment is expected to create it.")]
    public static partial void TableCreationForbidden(ILogger logger, string table);
}
