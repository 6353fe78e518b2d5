using FunctionsAuth.DemoProvider;
using FunctionsAuth.Protection;
using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsAuth.Tests.Infrastructure;

/// <summary>A real OAuth server (OpenIddict, rotation on), a fresh pair of tables in Azurite and one host, per test.</summary>
public abstract class DemoProviderTestBase : IAsyncLifetime
{
    /// <summary>Access-token lifetime of the demo server in these tests.</summary>
    protected static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(30);

    protected DemoOAuthServer Server { get; private set; } = null!;

    protected TestEnvironment Environment { get; private set; } = null!;

    protected TestHost Host { get; private set; } = null!;

    public virtual async Task InitializeAsync()
    {
        Server = await DemoOAuthServer.StartAsync(new DemoOAuthServerOptions { Clients = [TestEnvironment.DemoClient], AccessTokenLifetime = Lifetime });
        Environment = (await CreateEnvironmentAsync()).WithDemoProvider(Server);
        Host = await Environment.StartHostAsync();
    }

    /// <summary>Where the host's storage is: Azurite, directly unless a test class puts something in between.</summary>
    protected virtual Task<TestEnvironment> CreateEnvironmentAsync() => TestEnvironment.CreateAsync();

    /// <summary>Also checks, after every test, the invariant all of them share: no refresh token was ever sent twice.</summary>
    public virtual async Task DisposeAsync()
    {
        var reused = Server.Statistics.ReusedRefreshTokens;
        await Host.DisposeAsync();
        await Server.DisposeAsync();
        Assert.Equal(0, reused);
    }

    private protected static SessionKey KeyOf(string handle)
    {
        Assert.True(SessionHandle.TryGetKey(handle, out var key));
        return key;
    }

    private protected async Task<SessionEntity> RowAsync(string handle) =>
        (await Host.Services.GetRequiredService<SessionStore>().GetAsync(KeyOf(handle), default))!;

    /// <summary>The refresh token the row holds now, decrypted the way the service does.</summary>
    protected async Task<string> StoredRefreshTokenAsync(string handle)
    {
        var row = await RowAsync(handle);
        return await Host.Services.GetRequiredService<SessionCrypto>().ReadRefreshTokenAsync(row, default);
    }
}
