using System.Diagnostics;
using System.Net;
using Azure.Data.Tables;
using FunctionsAuth.DemoProvider;
using FunctionsAuth.Sessions;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsAuth.Tests.Sessions;

/// <summary>
/// The coordinator's wait for another instance's lease runs on the injected clock: the test moves a
/// <see cref="DrivenClock"/> past the lease or past the longest wait, and the request answers at once, where real
/// time would have taken a minute or more.
/// </summary>
public sealed class LeaseWaitTests : IAsyncLifetime
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(30);

    private readonly DrivenClock clock = new(TimeProvider.System.GetUtcNow());
    private DemoOAuthServer server = null!;
    private TestEnvironment environment = null!;
    private TestHost host = null!;

    public async Task InitializeAsync()
    {
        server = await DemoOAuthServer.StartAsync(new DemoOAuthServerOptions { Clients = [TestEnvironment.DemoClient], AccessTokenLifetime = Lifetime });
        environment = (await TestEnvironment.CreateAsync()).WithDemoProvider(server);
        host = await environment.StartHostAsync(b => b.Services.AddSingleton<TimeProvider>(clock));
    }

    public async Task DisposeAsync()
    {
        await host.DisposeAsync();
        await server.DisposeAsync();
        clock.Dispose();
    }

    [Fact]
    public async Task AnotherInstancesLease_ExpiresOnTheClock_ThenTheWaiterRefreshes()
    {
        var created = await host.SignInAsync(server);
        clock.Advance(Lifetime + TimeSpan.FromMinutes(1));
        await HoldLeaseElsewhereAsync(created.Session, TimeSpan.FromSeconds(40));
        var started = Stopwatch.GetTimestamp();

        var refreshing = host.RefreshAsync(created.Session);
        await Task.Delay(300);
        Assert.False(refreshing.IsCompleted);
        clock.Advance(TimeSpan.FromSeconds(40));

        Assert.True((await Expect.TokenAsync(await refreshing.WaitAsync(TimeSpan.FromSeconds(20)))).Refreshed);
        Assert.InRange(Stopwatch.GetElapsedTime(started), TimeSpan.Zero, TimeSpan.FromSeconds(20));
        Assert.Equal(1, server.Statistics.RefreshRequests);
    }

    [Fact]
    public async Task ALeaseThatOutlivesTheLongestWait_503RefreshInProgressAfterLeaseDurationPlusProviderTimeout()
    {
        var created = await host.SignInAsync(server);
        clock.Advance(Lifetime + TimeSpan.FromMinutes(1));
        await HoldLeaseElsewhereAsync(created.Session, TimeSpan.FromMinutes(10));

        var refreshing = host.RefreshAsync(created.Session);
        await Task.Delay(300);
        clock.Advance(TimeSpan.FromSeconds(30));
        await Task.Delay(300);
        Assert.False(refreshing.IsCompleted);

        // Default LeaseDuration (60 s) + ProviderTimeout (15 s): the wait ends there, measured on the clock.
        clock.Advance(TimeSpan.FromSeconds(46));
        using var response = await refreshing.WaitAsync(TimeSpan.FromSeconds(20));

        await Expect.ErrorAsync(response, HttpStatusCode.ServiceUnavailable, "provider_unavailable");
        Assert.Equal(0, server.Statistics.RefreshRequests);
    }

    /// <summary>Writes a lease of "another instance" on the row, expiring <paramref name="for"/> from now.</summary>
    private async Task HoldLeaseElsewhereAsync(string handle, TimeSpan @for)
    {
        Assert.True(SessionHandle.TryGetKey(handle, out var key));
        var table = await environment.SessionsTableAsync();
        var lease = new TableEntity(key.Value, key.Value) { ["LeaseId"] = "another-instance", ["LeaseExpiresAt"] = clock.GetUtcNow() + @for };
        await table.UpdateEntityAsync(lease, Azure.ETag.All, TableUpdateMode.Merge);
    }
}
