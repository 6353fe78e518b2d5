using System.Security.Cryptography;
using Azure.Security.KeyVault.Secrets;
using FunctionsAuth.Tests.Infrastructure;
using FunctionsAuth.Tests.Secrets;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsAuth.Tests.EndToEnd;

/// <summary>The host reading its secrets through the real SecretClient (against an in-memory Key Vault REST fake).</summary>
public sealed class KeyVaultTests : IAsyncLifetime
{
    private readonly FakeKeyVault vault = new();
    private ScriptedProvider provider = null!;
    private TestEnvironment environment = null!;
    private TestHost host = null!;

    public async Task InitializeAsync()
    {
        provider = await ScriptedProvider.StartAsync();
        provider.ExpectedClientSecret = "secret-v1";
        environment = (await TestEnvironment.CreateAsync()).WithScriptedProvider(provider);
        environment.Settings.Remove("FunctionsAuth:Secrets:token-encryption-key");
        environment.Settings.Remove("FunctionsAuth:Secrets:client-secret");
        environment.Settings["FunctionsAuth:KeyVaultUri"] = vault.VaultUri.AbsoluteUri;
        vault.AddVersion("token-encryption-key", Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)), DateTimeOffset.UtcNow.AddDays(-1));
        vault.AddVersion("client-secret", "secret-v1", DateTimeOffset.UtcNow.AddDays(-1));
        host = await environment.StartHostAsync(builder => builder.Services.AddSingleton<SecretClient>(vault.CreateClient()));
    }

    public async Task DisposeAsync()
    {
        await host.DisposeAsync();
        await provider.DisposeAsync();
    }

    [Fact]
    public async Task Refresh_ClientSecretRotatedInKeyVault_ReloadsItOnceOnInvalidClient()
    {
        provider.AccessTokenLifetime = TimeSpan.FromMinutes(2);
        var created = await host.HandOverAsync(TestEnvironment.ScriptedProvider, "refresh-1", "access-1", environment.Clock.GetUtcNow().AddMinutes(5));
        environment.Clock.Advance(TimeSpan.FromMinutes(6));
        Assert.True((await Expect.TokenAsync(await host.RefreshAsync(created.Session))).Refreshed);
        Assert.Equal(1, provider.TokenRequests);

        vault.AddVersion("client-secret", "secret-v2", DateTimeOffset.UtcNow);
        provider.ExpectedClientSecret = "secret-v2";
        // Still inside the secret cache's lifetime: only the provider's invalid_client can tell the secret changed.
        environment.Clock.Advance(TimeSpan.FromMinutes(3));

        Assert.True((await Expect.TokenAsync(await host.RefreshAsync(created.Session))).Refreshed);
        Assert.Equal(3, provider.TokenRequests);
        Assert.DoesNotContain("secret-v", host.Logs.AllText);
    }

    [Fact]
    public async Task Refresh_KeyVaultUnreachable_503TemporarilyUnavailableNothingSentAndTheSessionKept()
    {
        var created = await host.HandOverAsync(TestEnvironment.ScriptedProvider, "refresh-1", "access-1", environment.Clock.GetUtcNow().AddMinutes(5));
        vault.FailWith = System.Net.HttpStatusCode.ServiceUnavailable;
        environment.Clock.Advance(TimeSpan.FromHours(1));

        using var response = await host.RefreshAsync(created.Session);

        await Expect.ErrorAsync(response, System.Net.HttpStatusCode.ServiceUnavailable, "temporarily_unavailable");
        Assert.NotNull(response.Headers.RetryAfter?.Delta);
        Assert.Equal(0, provider.TokenRequests);
        vault.FailWith = null;
        Assert.True((await Expect.TokenAsync(await host.RefreshAsync(created.Session))).Refreshed);
        Assert.Equal(["refresh-1"], provider.PresentedRefreshTokens);
    }

    [Fact]
    public async Task Health_KeyVaultUnreachable_503()
    {
        Assert.Equal(System.Net.HttpStatusCode.OK, (await OpenApiContract.CreateClient(host.Address).GetAsync("api/health")).StatusCode);
        vault.FailWith = System.Net.HttpStatusCode.Forbidden;
        environment.Clock.Advance(TimeSpan.FromHours(1));

        using var response = await OpenApiContract.CreateClient(host.Address).GetAsync("api/health");

        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, response.StatusCode);
    }
}
