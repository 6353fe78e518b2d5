using System.Net;
using System.Text;
using Azure.Data.Tables;
using FunctionsAuth.DemoProvider;
using FunctionsAuth.Protection;
using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsAuth.Tests.EndToEnd;

/// <summary>What a table dump, a swapped ciphertext or the logs could give away.</summary>
public sealed class SecurityTests : IAsyncLifetime
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(30);
    private DemoOAuthServer server = null!;
    private TestEnvironment environment = null!;
    private TestHost host = null!;

    public async Task InitializeAsync()
    {
        server = await DemoOAuthServer.StartAsync(new DemoOAuthServerOptions { Clients = [TestEnvironment.DemoClient], AccessTokenLifetime = Lifetime });
        environment = (await TestEnvironment.CreateAsync()).WithDemoProvider(server);
        host = await environment.StartHostAsync();
    }

    public async Task DisposeAsync()
    {
        await host.DisposeAsync();
        await server.DisposeAsync();
    }

    [Fact]
    public async Task TableDump_ContainsNoTokenAndNoHandle()
    {
        var created = await host.SignInAsync(server);
        environment.Clock.Advance(Lifetime);
        var refreshed = await Expect.TokenAsync(await host.RefreshAsync(created.Session));
        var refreshToken = await StoredRefreshTokenAsync(created.Session);

        var dump = await environment.DumpTablesAsync();

        Assert.Contains("RefreshToken=", dump);
        foreach (var secret in new[] { created.Session, created.AccessToken, created.IdToken!, refreshed.AccessToken, refreshToken, environment.EncryptionKey })
        {
            Assert.DoesNotContain(secret, dump);
            Assert.DoesNotContain(Convert.ToBase64String(Encoding.UTF8.GetBytes(secret)), dump);
        }
    }

    [Fact]
    public async Task CiphertextCopiedIntoAnotherRow_FailsClosedWith401AndLeaksNothing()
    {
        var alice = await host.SignInAsync(server, subject: "alice");
        var bob = await host.SignInAsync(server, subject: "bob");
        var table = await environment.SessionsTableAsync();
        var aliceRow = (await table.GetEntityAsync<TableEntity>(Key(alice.Session), SessionEntity.SessionRowKey)).Value;
        var bobRow = (await table.GetEntityAsync<TableEntity>(Key(bob.Session), SessionEntity.SessionRowKey)).Value;
        bobRow["AccessToken"] = aliceRow["AccessToken"];
        bobRow["RefreshToken"] = aliceRow["RefreshToken"];
        await table.UpdateEntityAsync(bobRow, bobRow.ETag, TableUpdateMode.Replace);

        using var fresh = await host.RefreshAsync(bob.Session);
        var freshBody = await fresh.Content.ReadAsStringAsync();
        environment.Clock.Advance(Lifetime);
        using var due = await host.RefreshAsync(bob.Session);
        var dueBody = await due.Content.ReadAsStringAsync();

        await Expect.ErrorAsync(fresh, HttpStatusCode.Unauthorized, "invalid_session");
        await Expect.ErrorAsync(due, HttpStatusCode.Unauthorized, "invalid_session");
        Assert.DoesNotContain(alice.AccessToken, freshBody + dueBody);
        Assert.Equal(0, server.Statistics.RefreshRequests);

        // Alice's own row is untouched and still works.
        Assert.True((await Expect.TokenAsync(await host.RefreshAsync(alice.Session))).Refreshed);
    }

    [Fact]
    public async Task Logs_OfAWholeFlow_ContainNoTokenHandleOrSecret()
    {
        var code = await server.AuthorizeAsync(TestEnvironment.DemoClient.ClientId, TestEnvironment.DemoRedirectUri, "openid offline_access api", "carol");
        using var createResponse = await host.PostJsonAsync("api/auth/sessions", $$"""{"provider":"demo","code":"{{code.Code}}","code_verifier":"{{code.CodeVerifier}}","redirect_uri":"{{code.RedirectUri}}"}""");
        var created = (await System.Net.Http.Json.HttpContentJsonExtensions.ReadFromJsonAsync<SessionCreated>(createResponse.Content))!;
        var tokensSeen = new List<string> { created.Session, created.AccessToken, created.IdToken!, code.Code, code.CodeVerifier, await StoredRefreshTokenAsync(created.Session) };

        environment.Clock.Advance(Lifetime);
        tokensSeen.Add((await Expect.TokenAsync(await host.RefreshAsync(created.Session))).AccessToken);
        tokensSeen.Add(await StoredRefreshTokenAsync(created.Session));
        await host.PostJsonAsync("api/auth/refresh", $$"""{"session":"{{created.Session}}","min_ttl":"not a number"}""");
        await host.PostJsonAsync("api/auth/sessions", $$"""{"provider":"demo","code":"{{code.Code}}","code_verifier":"{{code.CodeVerifier}}","redirect_uri":"{{code.RedirectUri}}"}""");
        await host.RevokeAsync(created.Session);
        await host.RefreshAsync(created.Session);

        var logs = host.Logs.AllText;
        Assert.Contains("refreshed at provider demo", logs);
        foreach (var secret in tokensSeen.Concat([TestEnvironment.ClientSecret, environment.EncryptionKey, TestEnvironment.FunctionKey]))
        {
            Assert.DoesNotContain(secret, logs);
        }
    }

    private static string Key(string handle)
    {
        Assert.True(SessionHandle.TryGetKey(handle, out var key));
        return key.Value;
    }

    private async Task<string> StoredRefreshTokenAsync(string handle)
    {
        var row = (await host.Services.GetRequiredService<SessionStore>().GetAsync(new SessionKey(Key(handle)), default))!;
        return await host.Services.GetRequiredService<TokenProtector>().UnprotectAsync(row.RefreshToken!, $"{environment.SessionsTable}/{row.PartitionKey}/refresh_token", default);
    }
}
