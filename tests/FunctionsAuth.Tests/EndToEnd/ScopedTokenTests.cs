using System.Buffers.Text;
using System.Net;
using System.Text.Json;
using Azure.Data.Tables;
using FunctionsAuth.DemoProvider;
using FunctionsAuth.Storage;
using FunctionsAuth.Tests.Infrastructure;

namespace FunctionsAuth.Tests.EndToEnd;

/// <summary>
/// Tokens per scope and resource (<c>scope</c>/<c>resource</c> on <c>POST /api/auth/refresh</c>) against the real OpenIddict
/// server, which binds each token it issues to the scope and audience asked for, rotates refresh tokens and detects reuse.
/// </summary>
public sealed class ScopedTokenTests : DemoProviderTestBase
{
    private const string GrantedScope = "openid offline_access api email";
    private const string Resource = "https://api.demo.invalid/";

    protected override async Task<TestEnvironment> CreateEnvironmentAsync()
    {
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings[$"FunctionsAuth:Providers:{TestEnvironment.DemoProvider}:AllowedResources"] = Resource;
        return environment;
    }

    [Fact]
    public async Task Refresh_TwoScopesTwentyFiveCallersEach_EachGetsItsScopesTokenOneProviderCallPerScope()
    {
        var created = await Host.SignInAsync(Server, scope: GrantedScope);

        var answers = await Task.WhenAll(Enumerable.Range(0, 50).Select(async i =>
        {
            var scope = i % 2 == 0 ? "api" : "email";
            return (Scope: scope, Answer: await Expect.TokenAsync(await Host.RefreshAsync(created.Session, scope)));
        }));

        Assert.Equal(2, Server.Statistics.RefreshRequests);
        Assert.Equal(2, Server.Statistics.SuccessfulRefreshes);
        Assert.Equal(0, Server.Statistics.ReusedRefreshTokens);
        foreach (var group in answers.GroupBy(a => a.Scope))
        {
            var token = Assert.Single(group.Select(a => a.Answer.AccessToken).Distinct());
            Assert.Equal([group.Key], ScopesOf(token));
            Assert.All(group, a => Assert.Equal(group.Key, a.Answer.Scope));
            Assert.Contains(group, a => a.Answer.Refreshed);
        }

        Assert.NotEqual(created.AccessToken, answers[0].Answer.AccessToken);

        // Cached: served from storage, no provider call; the session's own token is untouched.
        var again = await Expect.TokenAsync(await Host.RefreshAsync(created.Session, "email"));
        Assert.False(again.Refreshed);
        Assert.Equal(answers.First(a => a.Scope == "email").Answer.AccessToken, again.AccessToken);
        var own = await Expect.TokenAsync(await Host.RefreshAsync(created.Session));
        Assert.False(own.Refreshed);
        Assert.Equal(created.AccessToken, own.AccessToken);
        Assert.Equal(2, Server.Statistics.RefreshRequests);

        // The refresh token both scoped refreshes rotated is the one the session's own refresh sends next.
        Environment.Clock.Advance(Lifetime);
        var refreshed = await Expect.TokenAsync(await Host.RefreshAsync(created.Session));
        Assert.True(refreshed.Refreshed);
        Assert.Equal(["api", "email", "offline_access", "openid"], ScopesOf(refreshed.AccessToken).Order(StringComparer.Ordinal));
        var scopedAgain = await Expect.TokenAsync(await Host.RefreshAsync(created.Session, "api"));
        Assert.True(scopedAgain.Refreshed);
        Assert.Equal(["api"], ScopesOf(scopedAgain.AccessToken));
        Assert.Equal(4, Server.Statistics.SuccessfulRefreshes);
        Assert.Equal(0, Server.Statistics.ReusedRefreshTokens);
    }

    [Fact]
    public async Task Refresh_ScopeInAnotherOrderOrRepeated_SameCachedToken()
    {
        var created = await Host.SignInAsync(Server, scope: GrantedScope);

        var first = await Expect.TokenAsync(await Host.RefreshAsync(created.Session, "email api"));
        var second = await Expect.TokenAsync(await Host.RefreshAsync(created.Session, "api  email api"));

        Assert.True(first.Refreshed);
        Assert.False(second.Refreshed);
        Assert.Equal(first.AccessToken, second.AccessToken);
        Assert.Equal(1, Server.Statistics.RefreshRequests);
    }

    [Fact]
    public async Task Refresh_TheSessionsWholeGrantedScope_IsTheSessionsOwnToken()
    {
        var created = await Host.SignInAsync(Server, scope: GrantedScope);

        var answer = await Expect.TokenAsync(await Host.RefreshAsync(created.Session, "email openid api offline_access"));

        Assert.False(answer.Refreshed);
        Assert.Equal(created.AccessToken, answer.AccessToken);
        Assert.Equal(0, Server.Statistics.RefreshRequests);
        Assert.Single(await PartitionAsync(created.Session));
    }

    [Fact]
    public async Task Refresh_Resource_TokenForThatAudienceAlone()
    {
        var created = await Host.SignInAsync(Server, scope: GrantedScope);

        var answer = await Expect.TokenAsync(await Host.RefreshAsync(created.Session, scope: "api", resource: Resource));
        var plain = await Expect.TokenAsync(await Host.RefreshAsync(created.Session, scope: "api"));

        Assert.Equal([Resource], AudiencesOf(answer.AccessToken));
        Assert.DoesNotContain(Resource, AudiencesOf(plain.AccessToken));
        Assert.NotEqual(answer.AccessToken, plain.AccessToken);
        Assert.Equal(2, Server.Statistics.RefreshRequests);
        Assert.Equal(3, (await PartitionAsync(created.Session)).Count);
    }

    [Theory]
    [InlineData("profile", null)]
    [InlineData("api profile", null)]
    [InlineData(null, "https://other.demo.invalid/")]
    public async Task Refresh_NotAllowed_InvalidScopeNothingSentNothingStored(string? scope, string? resource)
    {
        var created = await Host.SignInAsync(Server, scope: GrantedScope);
        var before = await Environment.DumpTablesAsync();

        await Expect.ErrorAsync(await Host.RefreshAsync(created.Session, scope, resource), HttpStatusCode.BadRequest, "invalid_scope");

        Assert.Equal(0, Server.Statistics.RefreshRequests);
        Assert.Equal(before, await Environment.DumpTablesAsync());
    }

    [Theory]
    [InlineData("", null)]
    [InlineData("api\"", null)]
    [InlineData(null, "not a uri")]
    [InlineData(null, "https://api.demo.invalid/#fragment")]
    [InlineData(null, "/relative")]
    public async Task Refresh_Malformed_InvalidScopeNothingSent(string? scope, string? resource)
    {
        var created = await Host.SignInAsync(Server, scope: GrantedScope);
        var before = await Environment.DumpTablesAsync();

        await Expect.ErrorAsync(await Host.RefreshAsync(created.Session, scope, resource), HttpStatusCode.BadRequest, "invalid_scope");

        Assert.Equal(0, Server.Statistics.RefreshRequests);
        Assert.Equal(before, await Environment.DumpTablesAsync());
    }

    [Fact]
    public async Task Revoke_SessionWithScopedTokens_DeletesTheWholePartition()
    {
        var created = await Host.SignInAsync(Server, scope: GrantedScope);
        await Expect.TokenAsync(await Host.RefreshAsync(created.Session, "api"));
        await Expect.TokenAsync(await Host.RefreshAsync(created.Session, "email"));
        Assert.Equal(3, (await PartitionAsync(created.Session)).Count);
        Assert.Equal(2, (await RowAsync(created.Session)).ScopedTokens);

        await Expect.StatusAsync(await Host.RevokeAsync(created.Session), HttpStatusCode.NoContent);

        Assert.Empty(await PartitionAsync(created.Session));
        await Expect.ErrorAsync(await Host.RefreshAsync(created.Session, "api"), HttpStatusCode.Unauthorized, "invalid_session");
        Assert.Equal(1, Server.Statistics.RevocationRequests);
    }

    /// <summary>Every row of the session's partition: its own and its scoped tokens'.</summary>
    private async Task<List<TableEntity>> PartitionAsync(string handle)
    {
        var table = await Environment.SessionsTableAsync();
        var key = KeyOf(handle).Value;
        return await table.QueryAsync<TableEntity>(e => e.PartitionKey == key).ToListAsync();
    }

    private static string[] ScopesOf(string accessToken) =>
        Claim(accessToken, "scope") switch
        {
            { ValueKind: JsonValueKind.String } scope => scope.GetString()!.Split(' '),
            { ValueKind: JsonValueKind.Array } scopes => scopes.EnumerateArray().Select(s => s.GetString()!).ToArray(),
            _ => [],
        };

    private static string[] AudiencesOf(string accessToken) =>
        Claim(accessToken, "aud") switch
        {
            { ValueKind: JsonValueKind.String } aud => [aud.GetString()!],
            { ValueKind: JsonValueKind.Array } auds => auds.EnumerateArray().Select(s => s.GetString()!).ToArray(),
            _ => [],
        };

    private static JsonElement? Claim(string jwt, string name)
    {
        var payload = JsonDocument.Parse(Base64Url.DecodeFromChars(jwt.Split('.')[1])).RootElement;
        return payload.TryGetProperty(name, out var value) ? value : null;
    }
}
