using System.Net;
using FunctionsAuth.DemoProvider;
using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsAuth.Tests.OAuth;

/// <summary>
/// A refresh whose answer is lost after the provider rotated the token (issue 12, "lost responses"): a real OAuth server
/// (OpenIddict, rotation and reuse detection on) behind a TCP proxy that lets the refresh through and drops its answer.
/// With the provider's reuse interval configured, the same token is sent again at once and the session recovers in the
/// same call; without it, the documented state follows: 503, the spent token kept, and the next call reauth_required.
/// </summary>
public sealed class LostResponseTests : IAsyncLifetime
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(30);

    private DemoOAuthServer server = null!;
    private TcpProxy proxy = null!;
    private TestEnvironment environment = null!;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await proxy.DisposeAsync();
        await server.DisposeAsync();
    }

    [Fact]
    public async Task LostAnswer_InsideTheProvidersReuseInterval_RecoveredInTheSameCall()
    {
        await using var host = await StartAsync(providerLeeway: TimeSpan.FromSeconds(30), reuseInterval: "00:00:30");
        var created = await host.SignInAsync(server, "alice");
        environment.Clock.Advance(Lifetime);
        var dropped = proxy.DropResponseTo("POST /connect/token");

        var answer = await Expect.TokenAsync(await host.RefreshAsync(created.Session));

        await dropped.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(answer.Refreshed);
        Assert.NotEqual(created.AccessToken, answer.AccessToken);

        // The provider answered twice, the second time for the same token, inside its leeway: no grant was revoked.
        Assert.Equal(2, server.Statistics.RefreshRequests);
        Assert.Equal(2, server.Statistics.SuccessfulRefreshes);
        Assert.Equal(1, server.Statistics.ReusedRefreshTokens);
        Assert.Contains(host.Logs.Lines, l => l.Contains("inside the provider's reuse interval", StringComparison.Ordinal));
        var row = await RowAsync(host, created.Session);
        Assert.Equal((1, 0, null), (row.Generation, row.FailureCount, row.LastError));

        // The token stored is the one from the answer that arrived: the session goes on refreshing.
        environment.Clock.Advance(Lifetime);
        Assert.True((await Expect.TokenAsync(await host.RefreshAsync(created.Session))).Refreshed);
        Assert.Equal(3, server.Statistics.SuccessfulRefreshes);
    }

    [Fact]
    public async Task LostAnswer_WithoutAReuseInterval_503ThenTheSpentTokenEndsTheSession()
    {
        await using var host = await StartAsync(providerLeeway: TimeSpan.Zero, reuseInterval: null);
        var created = await host.SignInAsync(server, "bob");
        var before = await RowAsync(host, created.Session);
        environment.Clock.Advance(Lifetime);
        var dropped = proxy.DropResponseTo("POST /connect/token");

        using var first = await host.RefreshAsync(created.Session);

        await dropped.WaitAsync(TimeSpan.FromSeconds(5));
        await Expect.ErrorAsync(first, HttpStatusCode.ServiceUnavailable, "provider_unavailable");
        Assert.NotNull(first.Headers.RetryAfter?.Delta);
        Assert.Equal(1, server.Statistics.RefreshRequests);

        // The documented state: the row keeps the refresh token it sent (its successor was lost with the answer),
        // marked outcome_unknown, lease released, back-off set.
        var row = await RowAsync(host, created.Session);
        Assert.Equal(RefreshCoordinator.OutcomeUnknownPrefix + "connection_dropped", row.LastError);
        Assert.True(row.RefreshToken.AsSpan().SequenceEqual(before.RefreshToken));
        Assert.Equal((before.Generation, 1, (string?)null), (row.Generation, row.FailureCount, row.LeaseId));
        Assert.Equal(SessionStatus.Active, row.Status);

        // The next attempt sends that token again: the provider had rotated it and detects the reuse.
        environment.Clock.Advance(TimeSpan.FromMinutes(2));
        await Expect.ErrorAsync(await host.RefreshAsync(created.Session), HttpStatusCode.Unauthorized, "reauth_required");
        Assert.Equal(2, server.Statistics.RefreshRequests);
        Assert.Equal(1, server.Statistics.ReusedRefreshTokens);
        Assert.Equal(SessionStatus.ReauthRequired, (await RowAsync(host, created.Session)).Status);
    }

    [Fact]
    public async Task ReuseInterval_ShorterThanTheTimeOut_ATimedOutRefreshIsNotSentAgain()
    {
        // The interval counts from sending: by the time a request times out (1 s here) a 500 ms interval has passed.
        await using var host = await StartAsync(providerLeeway: TimeSpan.FromSeconds(30), reuseInterval: "00:00:00.500", providerTimeout: "00:00:01");
        var created = await host.SignInAsync(server, "carol");
        environment.Clock.Advance(Lifetime);
        proxy.DelayResponses = TimeSpan.FromSeconds(3);

        using var response = await host.RefreshAsync(created.Session);

        await Expect.ErrorAsync(response, HttpStatusCode.ServiceUnavailable, "provider_unavailable");
        Assert.Equal(RefreshCoordinator.OutcomeUnknownPrefix + "timeout", (await RowAsync(host, created.Session)).LastError);
        Assert.Equal(1, server.Statistics.RefreshRequests);
    }

    private async Task<TestHost> StartAsync(TimeSpan providerLeeway, string? reuseInterval, string? providerTimeout = null)
    {
        server = await DemoOAuthServer.StartAsync(new DemoOAuthServerOptions { Clients = [TestEnvironment.DemoClient], AccessTokenLifetime = Lifetime, RefreshTokenReuseLeeway = providerLeeway });
        proxy = TcpProxy.Start(server.Issuer.Port);
        proxy.RewriteHost = true;
        environment = (await TestEnvironment.CreateAsync()).WithDemoProvider(server);

        // Discovery goes to the server itself (its issuer must match); token requests through the proxy.
        environment.Settings[$"FunctionsAuth:Providers:{TestEnvironment.DemoProvider}:TokenEndpoint"] = $"http://127.0.0.1:{proxy.Port}/connect/token";
        if (reuseInterval is not null)
        {
            environment.Settings[$"FunctionsAuth:Providers:{TestEnvironment.DemoProvider}:RefreshTokenReuseInterval"] = reuseInterval;
        }

        if (providerTimeout is not null)
        {
            environment.Settings["FunctionsAuth:ProviderTimeout"] = providerTimeout;
            environment.Settings["FunctionsAuth:LeaseDuration"] = "00:00:15";
        }

        return await environment.StartHostAsync();
    }

    private static async Task<SessionEntity> RowAsync(TestHost host, string handle)
    {
        Assert.True(SessionHandle.TryGetKey(handle, out var key));
        return (await host.Services.GetRequiredService<SessionStore>().GetAsync(key, default))!;
    }
}
