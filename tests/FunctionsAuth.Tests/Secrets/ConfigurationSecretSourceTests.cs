using FunctionsAuth.Secrets;
using Microsoft.Extensions.Logging;

namespace FunctionsAuth.Tests.Secrets;

public sealed class ConfigurationSecretSourceTests
{
    [Fact]
    public async Task GetSecret_ReadsFunctionsAuthSecretsSection()
    {
        using var host = SecretsTestHost.Create([new("FunctionsAuth:Secrets:google-client-secret", "local-client-secret")]);
        var source = host.Get<ISecretSource>();

        var value = await source.GetSecretAsync("google-client-secret", refresh: false, CancellationToken.None);

        Assert.Equal("Configuration", source.Kind);
        Assert.Equal("local-client-secret", value);
    }

    [Fact]
    public async Task GetSecret_ValueWithCommas_IsReturnedWhole()
    {
        using var host = SecretsTestHost.Create([new("FunctionsAuth:Secrets:client-secret", "a,b,c")]);

        var value = await host.Get<ISecretSource>().GetSecretAsync("client-secret", refresh: false, CancellationToken.None);

        Assert.Equal("a,b,c", value);
    }

    [Fact]
    public async Task GetSecret_AfterConfigurationReload_SeesNewValue()
    {
        using var host = SecretsTestHost.Create([new("FunctionsAuth:Secrets:client-secret", "before")]);
        var source = host.Get<ISecretSource>();
        await source.GetSecretAsync("client-secret", refresh: false, CancellationToken.None);

        host.Set("FunctionsAuth:Secrets:client-secret", "after");

        Assert.Equal("after", await source.GetSecretAsync("client-secret", refresh: true, CancellationToken.None));
    }

    [Fact]
    public async Task GetSecretVersions_CommaSeparated_AreVersionsNewestFirst()
    {
        using var host = SecretsTestHost.Create([new("FunctionsAuth:Secrets:token-encryption-key", "newest, middle ,oldest")]);

        var versions = await host.Get<ISecretSource>().GetSecretVersionsAsync("token-encryption-key", refresh: false, CancellationToken.None);

        Assert.Equal(["config-0", "config-1", "config-2"], versions.Select(v => v.Version));
        Assert.Equal(["newest", "middle", "oldest"], versions.Select(v => v.Value));
        Assert.All(versions, v => Assert.Null(v.CreatedOn));
    }

    [Fact]
    public async Task GetSecret_MissingName_ThrowsSecretNotFoundNamingIt()
    {
        using var host = SecretsTestHost.Create([]);

        var failure = await Assert.ThrowsAsync<SecretNotFoundException>(
            () => host.Get<ISecretSource>().GetSecretAsync("google-client-secret", refresh: false, CancellationToken.None).AsTask());

        Assert.Equal("google-client-secret", failure.SecretName);
        Assert.Contains("FunctionsAuth:Secrets:google-client-secret", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetSecretVersions_MissingOrEmpty_ThrowsSecretNotFound()
    {
        using var host = SecretsTestHost.Create([new("FunctionsAuth:Secrets:empty", " , ")]);
        var source = host.Get<ISecretSource>();

        await Assert.ThrowsAsync<SecretNotFoundException>(
            () => source.GetSecretVersionsAsync("token-encryption-key", refresh: false, CancellationToken.None).AsTask());
        await Assert.ThrowsAsync<SecretNotFoundException>(
            () => source.GetSecretVersionsAsync("empty", refresh: false, CancellationToken.None).AsTask());
    }

    [Fact]
    public async Task Construction_WarnsOnceThatSecretsComeFromConfiguration()
    {
        using var host = SecretsTestHost.Create([new("FunctionsAuth:Secrets:client-secret", "value-3d9a")]);
        var source = host.Get<ISecretSource>();
        await source.GetSecretAsync("client-secret", refresh: false, CancellationToken.None);
        await source.GetSecretAsync("client-secret", refresh: true, CancellationToken.None);

        var warning = Assert.Single(host.Logs.GetSnapshot(), r => r.Id.Id == 1000);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("local development", warning.Message, StringComparison.Ordinal);
        Assert.All(host.Logs.GetSnapshot(), r => Assert.DoesNotContain("value-3d9a", r.Message, StringComparison.Ordinal));
    }
}
