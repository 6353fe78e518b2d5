using Azure.Identity;
using Azure.Security.KeyVault.Certificates;
using Azure.Security.KeyVault.Secrets;
using FunctionsAuth.Configuration;
using FunctionsAuth.Protection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Secrets;

internal static class SecretsServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="ISecretSource"/> (Key Vault when <see cref="FunctionsAuthOptions.KeyVaultUri"/> is set, configuration
    /// otherwise) and <see cref="TokenProtector"/>. Expects <see cref="FunctionsAuthOptions"/> to be registered.
    /// </summary>
    public static IServiceCollection AddFunctionsAuthSecrets(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);

        // A singleton of its own so tests (and anything else) can replace it; built only when Key Vault is in use.
        services.TryAddSingleton(static sp =>
        {
            var vaultUri = sp.GetRequiredService<IOptions<FunctionsAuthOptions>>().Value.KeyVaultUri
                ?? throw new InvalidOperationException($"{FunctionsAuthOptions.SectionName}:KeyVaultUri is not set, so there is no Key Vault to connect to.");

            // In Azure this resolves to the managed identity (a user-assigned one needs AZURE_CLIENT_ID in the app settings).
            return new SecretClient(vaultUri, new DefaultAzureCredential());
        });

        services.TryAddSingleton<ISecretSource>(static sp =>
            sp.GetRequiredService<IOptions<FunctionsAuthOptions>>().Value.KeyVaultUri is null
                ? ActivatorUtilities.CreateInstance<ConfigurationSecretSource>(sp)
                : ActivatorUtilities.CreateInstance<KeyVaultSecretSource>(sp));

        services.TryAddSingleton(static sp => new CertificateClient(
            sp.GetRequiredService<IOptions<FunctionsAuthOptions>>().Value.KeyVaultUri
                ?? throw new InvalidOperationException($"{FunctionsAuthOptions.SectionName}:KeyVaultUri is not set, so there is no Key Vault to connect to."),
            new DefaultAzureCredential()));
        services.TryAddSingleton<ICertificateSource>(static sp =>
            sp.GetRequiredService<IOptions<FunctionsAuthOptions>>().Value.KeyVaultUri is null
                ? ActivatorUtilities.CreateInstance<ConfigurationCertificateSource>(sp)
                : ActivatorUtilities.CreateInstance<KeyVaultCertificateSource>(sp));

        services.TryAddSingleton<TokenProtector>();
        return services;
    }
}
