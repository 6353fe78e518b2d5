using System.Net;
using System.Security.Cryptography;
using Azure.Security.KeyVault.Secrets;
using FunctionsAuth.Tests.Infrastructure;
using FunctionsAuth.Tests.Secrets;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsAuth.Tests.Protection;

/// <summary>
/// With Key Vault the key is only known once the vault answers: the host starts either way, and says what is wrong
/// (by secret name and version, never the value) until it is fixed.
/// </summary>
public sealed class KeyVaultKeyAtStartTests
{
    private readonly FakeKeyVault vault = new();

    [Fact]
    public async Task Startup_KeyVaultKeyOfWrongShape_StartsUnhealthyNamingTheSecretNotTheValue()
    {
        var value = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var version = vault.AddVersion("token-encryption-key", value, DateTimeOffset.UtcNow.AddDays(-1));

        await using var host = await StartAsync();

        using var health = await new HttpClient { BaseAddress = host.Address }.GetAsync("api/health");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.Contains(host.Logs.Lines, l => l.StartsWith("Error ", StringComparison.Ordinal)
            && l.Contains($"Version {version} of secret token-encryption-key (KeyVault) is not a token-encryption key", StringComparison.Ordinal));
        Assert.DoesNotContain(value, host.Logs.AllText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Startup_KeyVaultUnreachable_StartsAndBecomesHealthyWhenItAnswers()
    {
        vault.AddVersion("token-encryption-key", Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)), DateTimeOffset.UtcNow.AddDays(-1));
        vault.FailWith = HttpStatusCode.ServiceUnavailable;

        await using var host = await StartAsync();
        using var client = new HttpClient { BaseAddress = host.Address };
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("api/health")).StatusCode);

        vault.FailWith = null;
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/health")).StatusCode);
    }

    private async Task<TestHost> StartAsync()
    {
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings.Remove("FunctionsAuth:Secrets:token-encryption-key");
        environment.Settings["FunctionsAuth:KeyVaultUri"] = vault.VaultUri.AbsoluteUri;
        return await environment.StartHostAsync(builder => builder.Services.AddSingleton<SecretClient>(vault.CreateClient()));
    }
}
