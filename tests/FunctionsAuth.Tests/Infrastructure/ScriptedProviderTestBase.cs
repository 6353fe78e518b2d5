using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsAuth.Tests.Infrastructure;

/// <summary>A scripted token endpoint (for answers a real server will not give on demand), fresh tables and one host, per test.</summary>
public abstract class ScriptedProviderTestBase : IAsyncLifetime
{
    protected ScriptedProvider Provider { get; private set; } = null!;

    protected TestEnvironment Environment { get; private set; } = null!;

    protected TestHost Host { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Provider = await ScriptedProvider.StartAsync();
        Environment = (await TestEnvironment.CreateAsync()).WithScriptedProvider(Provider);
        Host = await Environment.StartHostAsync();
    }

    public async Task DisposeAsync()
    {
        await Host.DisposeAsync();
        await Provider.DisposeAsync();
    }

    /// <summary>Starts the host again, with <see cref="Environment"/>'s settings as the test has changed them.</summary>
    protected async Task RestartHostAsync()
    {
        await Host.DisposeAsync();
        Host = await Environment.StartHostAsync();
    }

    /// <summary>Registers a session by hand-over whose access token expires after <paramref name="expiresIn"/>.</summary>
    protected Task<SessionCreated> HandOverAsync(TimeSpan expiresIn) =>
        Host.HandOverAsync(TestEnvironment.ScriptedProvider, "handed-over-refresh", "handed-over-access", Environment.Clock.GetUtcNow() + expiresIn);

    private protected async Task<SessionEntity> RowAsync(string handle)
    {
        Assert.True(SessionHandle.TryGetKey(handle, out var key));
        return (await Host.Services.GetRequiredService<SessionStore>().GetAsync(key, default))!;
    }
}
