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
public sealed class SecurityTests : DemoProviderTestBase
{
    [Fact]
    public async Task TableDump_ContainsNoTokenAndNoHandle()
    {
        var created = await Host.SignInAsync(Server);
        Environment.Clock.Advance(Lifetime);
        var refreshed = await Expect.TokenAsync(await Host.RefreshAsync(created.Session));
        var refreshToken = await StoredRefreshTokenAsync(created.Session);

        var dump = await Environment.DumpTablesAsync();

        Assert.Contains("RefreshToken=", dump);
        foreach (var secret in new[] { created.Session, created.AccessToken, created.IdToken!, refreshed.AccessToken, refreshToken, Environment.EncryptionKey })
        {
            Assert.DoesNotContain(secret, dump);
            Assert.DoesNotContain(Convert.ToBase64String(Encoding.UTF8.GetBytes(secret)), dump);
        }
    }

    [Fact]
    public async Task CiphertextCopiedIntoAnotherRow_FailsClosedWith401AndLeaksNothing()
    {
        var alice = await Host.SignInAsync(Server, subject: "alice");
        var bob = await Host.SignInAsync(Server, subject: "bob");
        var table = await Environment.SessionsTableAsync();
        var aliceRow = (await table.GetEntityAsync<TableEntity>(KeyOf(alice.Session).Value, KeyOf(alice.Session).Value)).Value;
        var bobRow = (await table.GetEntityAsync<TableEntity>(KeyOf(bob.Session).Value, KeyOf(bob.Session).Value)).Value;
        bobRow["AccessToken"] = aliceRow["AccessToken"];
        bobRow["RefreshToken"] = aliceRow["RefreshToken"];
        await table.UpdateEntityAsync(bobRow, bobRow.ETag, TableUpdateMode.Replace);

        using var fresh = await Host.RefreshAsync(bob.Session);
        var freshBody = await fresh.Content.ReadAsStringAsync();
        Environment.Clock.Advance(Lifetime);
        using var due = await Host.RefreshAsync(bob.Session);
        var dueBody = await due.Content.ReadAsStringAsync();

        await Expect.ErrorAsync(fresh, HttpStatusCode.Unauthorized, "invalid_session");
        await Expect.ErrorAsync(due, HttpStatusCode.Unauthorized, "invalid_session");
        Assert.DoesNotContain(alice.AccessToken, freshBody + dueBody);
        Assert.Equal(0, Server.Statistics.RefreshRequests);

        // Alice's own row is untouched and still works.
        Assert.True((await Expect.TokenAsync(await Host.RefreshAsync(alice.Session))).Refreshed);
    }

    [Fact]
    public async Task Logs_OfAWholeFlow_ContainNoTokenHandleOrSecret()
    {
        var code = await Server.AuthorizeAsync(TestEnvironment.DemoClient.ClientId, TestEnvironment.DemoRedirectUri, "openid offline_access api", "carol");
        using var createResponse = await Host.PostJsonAsync("api/auth/sessions", $$"""{"provider":"demo","code":"{{code.Code}}","code_verifier":"{{code.CodeVerifier}}","redirect_uri":"{{code.RedirectUri}}"}""");
        var created = (await System.Net.Http.Json.HttpContentJsonExtensions.ReadFromJsonAsync<SessionCreated>(createResponse.Content))!;
        var tokensSeen = new List<string> { created.Session, created.AccessToken, created.IdToken!, code.Code, code.CodeVerifier, await StoredRefreshTokenAsync(created.Session) };

        Environment.Clock.Advance(Lifetime);
        tokensSeen.Add((await Expect.TokenAsync(await Host.RefreshAsync(created.Session))).AccessToken);
        tokensSeen.Add(await StoredRefreshTokenAsync(created.Session));
        await Host.PostJsonAsync("api/auth/refresh", $$"""{"session":"{{created.Session}}","min_ttl":"not a number"}""");
        await Host.PostJsonAsync("api/auth/sessions", $$"""{"provider":"demo","code":"{{code.Code}}","code_verifier":"{{code.CodeVerifier}}","redirect_uri":"{{code.RedirectUri}}"}""");
        await Host.RevokeAsync(created.Session);
        await Host.RefreshAsync(created.Session);

        var logs = Host.Logs.AllText;
        Assert.Contains("refreshed at provider demo", logs);
        foreach (var secret in tokensSeen.Concat([TestEnvironment.ClientSecret, Environment.EncryptionKey, TestEnvironment.FunctionKey]))
        {
            Assert.DoesNotContain(secret, logs);
        }
    }
}
