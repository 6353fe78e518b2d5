using Azure.Security.KeyVault.Secrets;
using FunctionsAuth.Protection;
using FunctionsAuth.Secrets;

namespace FunctionsAuth.Tests.Secrets;

public sealed class SecretsServiceCollectionExtensionsTests
{
    [Fact]
    public void WithoutKeyVaultUri_SecretsComeFromConfiguration()
    {
        using var host = SecretsTestHost.Create([]);

        Assert.IsType<ConfigurationSecretSource>(host.Get<ISecretSource>());
        Assert.Same(host.Get<TokenProtector>(), host.Get<TokenProtector>());
    }

    [Fact]
    public void WithKeyVaultUri_SecretsComeFromKeyVaultThroughTheSingletonSecretClient()
    {
        using var host = SecretsTestHost.Create([new("FunctionsAuth:KeyVaultUri", "https://contoso-auth.vault.azure.net/")]);

        Assert.IsType<KeyVaultSecretSource>(host.Get<ISecretSource>());
        Assert.Equal(new Uri("https://contoso-auth.vault.azure.net/"), host.Get<SecretClient>().VaultUri);
        Assert.Same(host.Get<SecretClient>(), host.Get<SecretClient>());
    }

    [Fact]
    public async Task WithKeyVaultUri_AReplacedSecretClientIsTheOneUsed()
    {
        var vault = new FakeKeyVault();
        vault.AddVersion("google-client-secret", "from-fake-vault", SecretsTestHost.Start.AddDays(-1));
        using var host = SecretsTestHost.Create([], vault);

        var value = await host.Get<ISecretSource>().GetSecretAsync("google-client-secret", refresh: false, CancellationToken.None);

        Assert.Equal("from-fake-vault", value);
        Assert.Equal(1, vault.RequestCount);
    }
}
