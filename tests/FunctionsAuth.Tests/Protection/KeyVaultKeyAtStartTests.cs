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

        // A provider that vouches for any access token, so the registration below gets as far as encrypting it.
        await using var userInfo = await ScriptedProvider.StartAsync();
        await using var host = await StartAsync(userInfo);

        using var health = await new HttpClient { BaseAddress = host.Address }.GetAsync("api/health");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.Contains(host.Logs.Lines, l => l.StartsWith("Error ", StringComparison.Ordinal)
            && l.Contains($"Version {version} of secret token-encryption-key (KeyVault) is not a token-encryption key", StringComparison.Ordinal));
        Assert.DoesNotContain(value, host.Logs.AllText, StringComparison.Ordinal);

        // Nothing can be encrypted until the key is fixed: callers hear "retry", not a 500.
        using var register = await host.PostJsonAsync("api/auth/sessions", """{"provider":"nowhere","refresh_token":"some-refresh-token","access_token":"some-access-token","expires_at":4102444800}""");
        await Expect.ErrorAsync(register, HttpStatusCode.ServiceUnavailable, "temporarily_unavailable");
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

    private async Task<TestHost> StartAsync(ScriptedProvider? userInfo = null)
    {
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings.Remove("FunctionsAuth:Secrets:token-encryption-key");
        environment.Settings["FunctionsAuth:KeyVaultUri"] = vault.VaultUri.AbsoluteUri;
        environment.Settings["FunctionsAuth:Providers:nowhere:TokenEndpoint"] = "http://127.0.0.1:9/token";
        environment.Settings["FunctionsAuth:Providers:nowhere:ClientId"] = "nowhere-app";
        if (userInfo is not null)
        {
            environment.Settings["FunctionsAuth:Providers:nowhere:ClientAuthentication"] = "ClientSecretPost";
            environment.Settings["FunctionsAuth:Providers:nowhere:UserInfoEndpoint"] = userInfo.UserInfoEndpoint.AbsoluteUri;
        }

        return await environment.StartHostAsync(builder => builder.Services.AddSingleton<SecretClient>(vault.CreateClient()));
    }
}
