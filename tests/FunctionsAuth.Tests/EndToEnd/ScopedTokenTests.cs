using System.Buffers.Text;
using System.Net;
using System.Text.Json;
using Azure.Data.Tables;
using FunctionsAuth.DemoProvider;
using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

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
        Assert.Equal(2, Server.Statistics.ScopedRefreshRequests);
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
    public async Task Refresh_ScopedRowWrittenBetweenTheTwoReads_ServedWithoutASecondProviderCall()
    {
        // The two rows are read side by side: a caller can see the session as another flight left it (lease released)
        // and the scoped row as it was before that flight's transaction (not there). Its flight must not refresh again.
        var created = await Host.SignInAsync(Server, scope: GrantedScope);
        var first = await Expect.TokenAsync(await Host.RefreshAsync(created.Session, "api"));
        Assert.True(TokenScope.TryParse("api", null, out var scope, out _));
        var session = await RowAsync(created.Session);

        var outcome = await Host.Services.GetRequiredService<RefreshCoordinator>()
            .EnsureCurrentAsync(KeyOf(created.Session), RefreshDemand.ValidFor(TimeSpan.FromMinutes(1)), default, lastRead: session, scope: scope, lastScoped: null);

        Assert.Equal(RefreshStatus.Current, outcome.Status);
        Assert.Equal(first.AccessToken, outcome.AccessToken);
        Assert.Equal(1, Server.Statistics.RefreshRequests);
        Assert.Null((await RowAsync(created.Session)).LeaseId);
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
    [InlineData("", null)]
    [InlineData("api\"", null)]
    [InlineData(null, "not a uri")]
    [InlineData(null, "https://api.demo.invalid/#fragment")]
    [InlineData(null, "/relative")]
    public async Task Refresh_NotAllowedOrMalformed_InvalidScopeNothingSentNothingStored(string? scope, string? resource)
    {
        var created = await Host.SignInAsync(Server, scope: GrantedScope);
        var before = await Environment.DumpTablesAsync();

        await Expect.ErrorAsync(await Host.RefreshAsync(created.Session, scope, resource), HttpStatusCode.BadRequest, "invalid_scope");

        Assert.Equal(0, Server.Statistics.RefreshRequests);
        Assert.Equal(before, await Environment.DumpTablesAsync());
    }

    [Fact]
    public async Task Refresh_ProviderRefusesTheScope_InvalidScopeSessionUntouchedAndStillRefreshes()
    {
        // Allowed here, unknown to the provider: OpenIddict answers invalid_scope before it looks at the refresh token.
        await using var host = await StartWithAsync($"FunctionsAuth:Providers:{TestEnvironment.DemoProvider}:AllowedScopes", "api email admin");
        var created = await host.SignInAsync(Server, scope: GrantedScope);
        var before = await RowAsync(created.Session);

        var refused = await Expect.ErrorAsync(await host.RefreshAsync(created.Session, "admin"), HttpStatusCode.BadRequest, "invalid_scope");

        Assert.Contains("invalid_scope", refused.ErrorDescription, StringComparison.Ordinal);
        Assert.Equal(1, Server.Statistics.RefreshRequests);
        var after = await RowAsync(created.Session);
        Assert.Equal(SessionStatus.Active, after.Status);
        Assert.Equal(before.Generation, after.Generation);
        Assert.Equal(0, after.FailureCount);
        Assert.Null(after.LeaseId);
        Assert.Equal(before.RefreshToken, after.RefreshToken);
        Assert.Single(await PartitionAsync(created.Session));

        // The refresh token was not spent: it works for an allowed scope, and for the session's own token.
        Assert.Equal(["email"], ScopesOf((await Expect.TokenAsync(await host.RefreshAsync(created.Session, "email"))).AccessToken));
        Environment.Clock.Advance(Lifetime);
        Assert.True((await Expect.TokenAsync(await host.RefreshAsync(created.Session))).Refreshed);
        Assert.Equal(0, Server.Statistics.ReusedRefreshTokens);
    }

    [Fact]
    public async Task Refresh_AllowedScopesConfigured_ScopeBeyondTheGrantAllowedAndTheGrantsOwnNotImplied()
    {
        // Entra ID's shape: the allowed list, not the granted scope, says what may be asked.
        await using var host = await StartWithAsync($"FunctionsAuth:Providers:{TestEnvironment.DemoProvider}:AllowedScopes", "api");
        var created = await host.SignInAsync(Server, scope: GrantedScope);

        Assert.Equal(["api"], ScopesOf((await Expect.TokenAsync(await host.RefreshAsync(created.Session, "api"))).AccessToken));
        await Expect.ErrorAsync(await host.RefreshAsync(created.Session, "email"), HttpStatusCode.BadRequest, "invalid_scope");

        Assert.Equal(1, Server.Statistics.RefreshRequests);
    }

    [Fact]
    public async Task Refresh_MoreScopesThanTheCap_LeastRecentlyUsedEvictedInTheSameTransaction()
    {
        // Every proper subset of the grant, with and without the resource: more distinct tokens than a session keeps.
        string[] granted = ["api", "email", "offline_access", "openid"];
        var subsets = Enumerable.Range(1, (1 << granted.Length) - 2).Select(mask => string.Join(' ', granted.Where((_, i) => (mask & (1 << i)) != 0))).ToList();
        var requests = subsets.Select(scope => (Scope: scope, Resource: (string?)null)).Concat(subsets.Select(scope => (Scope: scope, Resource: (string?)Resource))).Take(ScopedTokenEntity.MaxPerSession + 1).ToList();
        Assert.Equal(ScopedTokenEntity.MaxPerSession + 1, requests.Count);
        var created = await Host.SignInAsync(Server, scope: GrantedScope);
        foreach (var (scope, resource) in requests)
        {
            Assert.True((await Expect.TokenAsync(await Host.RefreshAsync(created.Session, scope, resource))).Refreshed);
            Environment.Clock.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Equal(ScopedTokenEntity.MaxPerSession, (await RowAsync(created.Session)).ScopedTokens);
        Assert.Equal(ScopedTokenEntity.MaxPerSession + 1, (await PartitionAsync(created.Session)).Count);

        // The first one was the least recently used: gone, fetched again (evicting the second); the third is still cached.
        Assert.True((await Expect.TokenAsync(await Host.RefreshAsync(created.Session, requests[0].Scope, requests[0].Resource))).Refreshed);
        Assert.False((await Expect.TokenAsync(await Host.RefreshAsync(created.Session, requests[2].Scope, requests[2].Resource))).Refreshed);
        Assert.True((await Expect.TokenAsync(await Host.RefreshAsync(created.Session, requests[1].Scope, requests[1].Resource))).Refreshed);
        Assert.Equal(ScopedTokenEntity.MaxPerSession + 1, (await PartitionAsync(created.Session)).Count);
        Assert.Equal(ScopedTokenEntity.MaxPerSession + 3, Server.Statistics.RefreshRequests);
    }

    [Fact]
    public async Task Refresh_ScopedCiphertextCopiedIntoAnotherScopesRow_NeverServedThere()
    {
        var created = await Host.SignInAsync(Server, scope: GrantedScope);
        var api = await Expect.TokenAsync(await Host.RefreshAsync(created.Session, "api"));
        await Expect.TokenAsync(await Host.RefreshAsync(created.Session, "email"));
        var table = await Environment.SessionsTableAsync();
        var rows = await PartitionAsync(created.Session);
        var apiRow = rows.Single(r => r.GetString(nameof(ScopedTokenEntity.RequestedScope)) == "api");
        var emailRow = rows.Single(r => r.GetString(nameof(ScopedTokenEntity.RequestedScope)) == "email");
        emailRow[nameof(ScopedTokenEntity.AccessToken)] = apiRow.GetBinary(nameof(ScopedTokenEntity.AccessToken));
        emailRow[nameof(ScopedTokenEntity.Generation)] = apiRow.GetInt64(nameof(ScopedTokenEntity.Generation));
        await table.UpdateEntityAsync(emailRow, emailRow.ETag, TableUpdateMode.Replace);

        // Bound to its token key: it does not decrypt in the other row, which is fetched again from the provider.
        var email = await Expect.TokenAsync(await Host.RefreshAsync(created.Session, "email"));

        Assert.True(email.Refreshed);
        Assert.NotEqual(api.AccessToken, email.AccessToken);
        Assert.Equal(["email"], ScopesOf(email.AccessToken));
        Assert.Equal(api.AccessToken, (await Expect.TokenAsync(await Host.RefreshAsync(created.Session, "api"))).AccessToken);
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

    private async Task<TestHost> StartWithAsync(string setting, string value)
    {
        Environment.Settings[setting] = value;
        return await Environment.StartHostAsync();
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
