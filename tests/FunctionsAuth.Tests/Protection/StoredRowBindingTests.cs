using System.Net;
using Azure.Data.Tables;
using FunctionsAuth.Tests.Infrastructure;

namespace FunctionsAuth.Tests.Protection;

/// <summary>
/// Someone who can write the sessions table (but holds no key) rolls a row back or relabels it: the service fails
/// closed (<c>invalid_session</c>) without sending anything to a provider. Real host, real demo provider, Azurite.
/// </summary>
public sealed class StoredRowBindingTests : DemoProviderTestBase
{
    [Fact]
    public async Task RowRolledBackToTheRefreshTokenOfAnEarlierGeneration_FailsClosed_NothingSent()
    {
        var created = await Host.SignInAsync(Server);
        var table = await Environment.SessionsTableAsync();
        var key = KeyOf(created.Session).Value;
        var before = (await table.GetEntityAsync<TableEntity>(key, key)).Value;
        Environment.Clock.Advance(Lifetime);
        Assert.True((await Expect.TokenAsync(await Host.RefreshAsync(created.Session))).Refreshed);
        var refreshesSoFar = Server.Statistics.RefreshRequests;

        var after = (await table.GetEntityAsync<TableEntity>(key, key)).Value;
        Assert.Equal(1L, after.GetInt64("Generation"));
        after["RefreshToken"] = before["RefreshToken"];
        after["AccessToken"] = before["AccessToken"];
        await table.UpdateEntityAsync(after, after.ETag, TableUpdateMode.Replace);
        Environment.Clock.Advance(Lifetime);

        using var response = await Host.RefreshAsync(created.Session);

        // Without the binding the spent refresh token would go to the provider, which would see it reused and end the grant.
        await Expect.ErrorAsync(response, HttpStatusCode.Unauthorized, "invalid_session");
        Assert.Equal(refreshesSoFar, Server.Statistics.RefreshRequests);
    }

    [Fact]
    public async Task RowRelabelledToAnotherConfiguredProvider_FailsClosed_NothingSent()
    {
        // A second provider entry for the same server: were the label not bound, the refresh would go through.
        foreach (var (name, value) in Environment.Settings.Where(s => s.Key.StartsWith($"FunctionsAuth:Providers:{TestEnvironment.DemoProvider}:", StringComparison.Ordinal)).ToList())
        {
            Environment.Settings[name.Replace($":{TestEnvironment.DemoProvider}:", ":other:", StringComparison.Ordinal)] = value;
        }

        await using var host = await Environment.StartHostAsync();
        var created = await host.SignInAsync(Server);
        var table = await Environment.SessionsTableAsync();
        var key = KeyOf(created.Session).Value;
        var row = (await table.GetEntityAsync<TableEntity>(key, key)).Value;
        row["Provider"] = "other";
        await table.UpdateEntityAsync(row, row.ETag, TableUpdateMode.Replace);

        using var fresh = await host.RefreshAsync(created.Session);
        Environment.Clock.Advance(Lifetime);
        using var due = await host.RefreshAsync(created.Session);

        await Expect.ErrorAsync(fresh, HttpStatusCode.Unauthorized, "invalid_session");
        await Expect.ErrorAsync(due, HttpStatusCode.Unauthorized, "invalid_session");
        Assert.Equal(0, Server.Statistics.RefreshRequests);
    }
}
