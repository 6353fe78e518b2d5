using System.Net;
using FunctionsAuth.Storage;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsAuth.Tests.EndToEnd;

/// <summary>
/// Storage cut at chosen points of a refresh (a TCP proxy in front of Azurite), against the real OAuth server with
/// rotation and reuse detection. After each: no refresh token lost, none sent twice (checked by the base class), no
/// lease left behind, every caller answered in the contract's shapes.
/// </summary>
public sealed class StorageFaultTests : DemoProviderTestBase
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(60);

    private TcpProxy proxy = null!;

    protected override async Task<TestEnvironment> CreateEnvironmentAsync()
    {
        (var environment, proxy) = await TestEnvironment.CreateBehindProxyAsync();
        return environment;
    }

    public override async Task DisposeAsync()
    {
        proxy.Restore();
        await base.DisposeAsync();
        await proxy.DisposeAsync();
    }

    /// <summary>A replace of a session row: on a refresh, the rotated token's write.</summary>
    private string SessionRowWrite => $"PUT /devstoreaccount1/{Environment.SessionsTable}(";

    /// <summary>The lease claim: a merge of the lease fields alone.</summary>
    private string LeaseClaim => $"PATCH /devstoreaccount1/{Environment.SessionsTable}(";

    [Fact]
    public async Task Refresh_StorageDownWhenTheRotatedTokenIsWritten_TokenKeptInMemoryAndStoredWhenStorageIsBack()
    {
        var created = await Host.SignInAsync(Server);
        var before = await RowAsync(created.Session);
        var originalRefreshToken = await StoredRefreshTokenAsync(created.Session);
        Environment.Clock.Advance(Lifetime + TimeSpan.FromMinutes(1));

        // The lease claim is a merge; the first replace of the session row is the rotated token: cut storage at that one,
        // before it reaches Azurite, for longer than a caller waits.
        var cut = proxy.CutOnRequest(SessionRowWrite, TimeSpan.FromSeconds(8));
        using var response = await Host.RefreshAsync(created.Session);

        Assert.True(cut.IsCompleted);
        await Expect.ErrorAsync(response, HttpStatusCode.ServiceUnavailable, "temporarily_unavailable");
        Assert.NotNull(response.Headers.RetryAfter?.Delta);
        Assert.Equal(1, Server.Statistics.SuccessfulRefreshes);

        var after = await WaitForRowAsync(created.Session, row => row.Generation == before.Generation + 1);
        Assert.Null(after.LeaseId);
        Assert.NotEqual(originalRefreshToken, await StoredRefreshTokenAsync(created.Session));
        Assert.Contains(Host.Logs.Lines, line => line.Contains("storing the rotated refresh token failed", StringComparison.Ordinal));

        // The token the provider rotated is the one used next: the provider sees no reuse and the user stays signed in.
        Assert.False((await Expect.TokenAsync(await Host.RefreshAsync(created.Session))).Refreshed);
        Environment.Clock.Advance(Lifetime + TimeSpan.FromMinutes(1));
        Assert.True((await Expect.TokenAsync(await Host.RefreshAsync(created.Session))).Refreshed);
        Assert.Equal(2, Server.Statistics.SuccessfulRefreshes);
    }

    [Fact]
    public async Task Refresh_AnswerToTheRotatedWriteLost_412IsRecognisedAsOurOwnWrite()
    {
        var created = await Host.SignInAsync(Server);
        var before = await RowAsync(created.Session);
        Environment.Clock.Advance(Lifetime + TimeSpan.FromMinutes(1));

        // Azurite applies the write; its answer never comes back, so every retry meets 412 (the ETag moved on).
        var dropped = proxy.DropResponseTo(SessionRowWrite);
        using var response = await Host.RefreshAsync(created.Session);

        Assert.True(dropped.IsCompleted);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            await Expect.ErrorAsync(response, HttpStatusCode.ServiceUnavailable, "temporarily_unavailable");
        }

        var after = await WaitForRowAsync(created.Session, row => row.Generation == before.Generation + 1 && row.LeaseId is null);
        Assert.DoesNotContain(Host.Logs.Lines, line => line.Contains("changed under a held refresh lease", StringComparison.Ordinal));
        Environment.Clock.Advance(Lifetime + TimeSpan.FromMinutes(1));
        Assert.True((await Expect.TokenAsync(await Host.RefreshAsync(created.Session))).Refreshed);
        Assert.Equal(after.Generation + 1, (await RowAsync(created.Session)).Generation);
    }

    /// <summary>An entity group transaction: a scoped refresh's write of the session row and the scoped token together.</summary>
    private const string Transaction = "POST /devstoreaccount1/$batch";

    [Fact]
    public async Task ScopedRefresh_StorageDownWhenTheTransactionIsWritten_RotatedTokenKeptAndBothRowsStoredWhenStorageIsBack()
    {
        var created = await Host.SignInAsync(Server, scope: "openid offline_access api email");
        var before = await RowAsync(created.Session);
        var originalRefreshToken = await StoredRefreshTokenAsync(created.Session);

        var cut = proxy.CutOnRequest(Transaction, TimeSpan.FromSeconds(8));
        using var response = await Host.RefreshAsync(created.Session, "api");

        Assert.True(cut.IsCompleted);
        await Expect.ErrorAsync(response, HttpStatusCode.ServiceUnavailable, "temporarily_unavailable");
        Assert.Equal(1, Server.Statistics.SuccessfulRefreshes);

        var after = await WaitForRowAsync(created.Session, row => row.Generation == before.Generation + 1);
        Assert.Null(after.LeaseId);
        Assert.Equal(1, after.ScopedTokens);
        Assert.NotEqual(originalRefreshToken, await StoredRefreshTokenAsync(created.Session));
        Assert.Contains(Host.Logs.Lines, line => line.Contains("storing the rotated refresh token failed", StringComparison.Ordinal));

        // The scoped token came with it (one transaction): served from storage; the rotated refresh token is the one sent next.
        var scoped = await Expect.TokenAsync(await Host.RefreshAsync(created.Session, "api"));
        Assert.False(scoped.Refreshed);
        Assert.Equal("api", scoped.Scope);
        Environment.Clock.Advance(Lifetime + TimeSpan.FromMinutes(1));
        Assert.True((await Expect.TokenAsync(await Host.RefreshAsync(created.Session))).Refreshed);
        Assert.True((await Expect.TokenAsync(await Host.RefreshAsync(created.Session, "api"))).Refreshed);
        Assert.Equal(3, Server.Statistics.SuccessfulRefreshes);
    }

    [Fact]
    public async Task ScopedRefresh_AnswerToTheTransactionLost_412IsRecognisedAsOurOwnWrite()
    {
        var created = await Host.SignInAsync(Server, scope: "openid offline_access api email");
        var before = await RowAsync(created.Session);

        var dropped = proxy.DropResponseTo(Transaction);
        using var response = await Host.RefreshAsync(created.Session, "email");

        Assert.True(dropped.IsCompleted);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            await Expect.ErrorAsync(response, HttpStatusCode.ServiceUnavailable, "temporarily_unavailable");
        }

        var after = await WaitForRowAsync(created.Session, row => row.Generation == before.Generation + 1 && row.LeaseId is null);
        Assert.Equal(1, after.ScopedTokens);
        Assert.DoesNotContain(Host.Logs.Lines, line => line.Contains("changed under a held refresh lease", StringComparison.Ordinal));
        Assert.False((await Expect.TokenAsync(await Host.RefreshAsync(created.Session, "email"))).Refreshed);
        Environment.Clock.Advance(Lifetime + TimeSpan.FromMinutes(1));
        Assert.True((await Expect.TokenAsync(await Host.RefreshAsync(created.Session, "email"))).Refreshed);
        Assert.Equal(after.Generation + 1, (await RowAsync(created.Session)).Generation);
    }

    [Fact]
    public async Task Refresh_StorageDownAtTheLeaseClaim_503AndNothingChangedNorSentToTheProvider()
    {
        var created = await Host.SignInAsync(Server);
        Environment.Clock.Advance(Lifetime + TimeSpan.FromMinutes(1));
        var dump = await Environment.DumpTablesAsync();

        var cut = proxy.CutOnRequest(LeaseClaim, TimeSpan.FromSeconds(2));
        using var response = await Host.RefreshAsync(created.Session);

        Assert.True(cut.IsCompleted);
        await Expect.ErrorAsync(response, HttpStatusCode.ServiceUnavailable, "temporarily_unavailable");
        Assert.NotNull(response.Headers.RetryAfter?.Delta);
        Assert.Equal(0, Server.Statistics.RefreshRequests);
        Assert.Equal(dump, await Environment.DumpTablesAsync());

        await WaitUntilAsync(() => !proxy.IsCut);
        Assert.True((await Expect.TokenAsync(await Host.RefreshAsync(created.Session))).Refreshed);
    }

    [Fact]
    public async Task EveryEndpoint_StorageDown_503TemporarilyUnavailableWithRetryAfter()
    {
        var created = await Host.SignInAsync(Server);
        var code = await Server.AuthorizeAsync(TestEnvironment.DemoClient.ClientId, TestEnvironment.DemoRedirectUri, "openid offline_access api", "bob");
        proxy.Cut();

        using var refresh = await Host.RefreshAsync(created.Session);
        using var revoke = await Host.RevokeAsync(created.Session);
        using var register = await Host.PostJsonAsync("api/auth/sessions", $$"""{"provider":"demo","code":"{{code.Code}}","code_verifier":"{{code.CodeVerifier}}","redirect_uri":"{{code.RedirectUri.AbsoluteUri}}"}""");
        using var health = await new HttpClient { BaseAddress = Host.Address }.GetAsync("api/health");

        foreach (var response in new[] { refresh, revoke, register })
        {
            var error = await Expect.ErrorAsync(response, HttpStatusCode.ServiceUnavailable, "temporarily_unavailable");
            Assert.NotNull(response.Headers.RetryAfter?.Delta);
            Assert.DoesNotContain(created.Session, error.ErrorDescription, StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.DoesNotContain(Host.Logs.Lines, line => line.Contains("Unexpected", StringComparison.Ordinal));
        proxy.Restore();
        Assert.False((await Expect.TokenAsync(await Host.RefreshAsync(created.Session))).Refreshed);
    }

    /// <summary>Reads the row straight from Azurite (not through the proxy) until it satisfies <paramref name="condition"/>.</summary>
    private async Task<SessionEntity> WaitForRowAsync(string handle, Func<SessionEntity, bool> condition)
    {
        var table = await Environment.SessionsTableAsync();
        var key = KeyOf(handle).Value;
        SessionEntity? row = null;
        await WaitUntilAsync(async () =>
        {
            row = (await table.GetEntityAsync<SessionEntity>(key, key)).Value;
            return condition(row);
        });
        return row!;
    }

    private static Task WaitUntilAsync(Func<bool> condition) => WaitUntilAsync(() => Task.FromResult(condition()));

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + Settle;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "The stored state did not settle in time.");
            await Task.Delay(100);
        }
    }
}
