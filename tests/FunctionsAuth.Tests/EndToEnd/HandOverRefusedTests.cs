using System.Net;
using FunctionsAuth.Tests.Infrastructure;

namespace FunctionsAuth.Tests.EndToEnd;

/// <summary>A hand-over the provider refuses leaves no trace in storage: the refresh that vouches for it comes first.</summary>
public sealed class HandOverRefusedTests : DemoProviderTestBase
{
    [Fact]
    public async Task HandOver_ProviderRefusesTheRefreshToken_400InvalidGrant_NothingWritten()
    {
        using var response = await Host.PostJsonAsync("api/auth/sessions", """{"provider":"demo","refresh_token":"garbage-refresh-token"}""");

        await Expect.ErrorAsync(response, HttpStatusCode.BadRequest, "invalid_grant");
        Assert.Equal(1, Server.Statistics.RefreshRequests);
        Assert.Equal("", await Environment.DumpTablesAsync());
        Assert.DoesNotContain("created for provider", Host.Logs.AllText, StringComparison.Ordinal);
        Assert.DoesNotContain("revoked (provider", Host.Logs.AllText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HandOver_StorageUnreachable_RefusedRefreshToken_StillAnswered400_NotAStorageError()
    {
        var (environment, proxy) = await TestEnvironment.CreateBehindProxyAsync();
        await using var _ = proxy;
        environment.WithDemoProvider(Server);
        await using var host = await environment.StartHostAsync();
        proxy.Cut();

        using var response = await host.PostJsonAsync("api/auth/sessions", """{"provider":"demo","refresh_token":"garbage-refresh-token"}""");

        await Expect.ErrorAsync(response, HttpStatusCode.BadRequest, "invalid_grant");
    }
}
