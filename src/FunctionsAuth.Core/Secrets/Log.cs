using Microsoft.Extensions.Logging;

namespace FunctionsAuth.Secrets;

// Secret names and vault addresses are not secret; values never reach a log.
internal static partial class Log
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Warning,
        Message = "Secrets are read from configuration (FunctionsAuth:Secrets), not from Key Vault: for local development only. Set FunctionsAuth:KeyVaultUri in Azure.")]
    public static partial void SecretsFromConfiguration(ILogger logger);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Debug, Message = "Read secret {SecretName} from Key Vault")]
    public static partial void SecretRead(ILogger logger, string secretName);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Debug, Message = "Read {VersionCount} usable versions of secret {SecretName} from Key Vault")]
    public static partial void SecretVersionsRead(ILogger logger, string secretName, int versionCount);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Error, Message = "Secret {SecretName} was not found in Key Vault {VaultUri}")]
    public static partial void SecretNotFound(ILogger logger, string secretName, Uri vaultUri);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Debug, Message = "Read client certificate {CertificateName} (thumbprint {Thumbprint}) from Key Vault")]
    public static partial void CertificateRead(ILogger logger, string certificateName, string thumbprint);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Error, Message = "Client certificate {CertificateName} cannot sign client assertions: {Reason}")]
    public static partial void CertificateUnusable(ILogger logger, string certificateName, string reason);
}
