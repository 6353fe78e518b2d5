using System.Net;
using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsAuth.Tests.EndToEnd;

/// <summary>Faults a real OAuth server will not produce on demand, from a scripted token endpoint.</summary>
public sealed class ProviderFaultTests : ScriptedProviderTestBase
{
    [Fact]
    public async Task Refresh_ProviderDownButStoredTokenStillValid_ServesStoredToken()
    {
        var created = await HandOverAsync(expiresIn: TimeSpan.FromSeconds(40));
        Provider.Then(ScriptedResponse.ServerError()).Then(ScriptedResponse.ServerError()).Then(ScriptedResponse.ServerError());

        var answer = await Expect.TokenAsync(await Host.RefreshAsync(created.Session, minTtl: 60));

        Assert.False(answer.Refreshed);
        Assert.Equal("handed-over-access", answer.AccessToken);
        Assert.Equal(3, Provider.TokenRequests);
    }

    [Fact]
    public async Task Refresh_ProviderDownAndStoredTokenExpired_503WithRetryAfter()
    {
        var created = await HandOverAsync(expiresIn: TimeSpan.FromMinutes(5));
        Environment.Clock.Advance(TimeSpan.FromMinutes(6));
        Provider.Then(ScriptedResponse.ServerError(503)).Then(ScriptedResponse.ServerError(503)).Then(ScriptedResponse.ServerError(503));

        using var response = await Host.RefreshAsync(created.Session);

        await Expect.ErrorAsync(response, HttpStatusCode.ServiceUnavailable, "provider_unavailable");
        Assert.NotNull(response.Headers.RetryAfter?.Delta);
        Assert.Equal(3, Provider.TokenRequests);
    }

    [Theory]
    [InlineData(500)]
    [InlineData(502)]
    [InlineData(504)]
    public async Task Refresh_500Or502Or504FromAProviderThatRotates_NotSentAgainBecauseTheTokenMayBeSpent(int status)
    {
        var created = await HandOverAsync(expiresIn: TimeSpan.FromMinutes(5));
        Environment.Clock.Advance(TimeSpan.FromMinutes(6));
        Provider.Then(ScriptedResponse.ServerError(status)).Then(ScriptedResponse.ServerError(status));

        await Expect.ErrorAsync(await Host.RefreshAsync(created.Session), HttpStatusCode.ServiceUnavailable, "provider_unavailable");

        Assert.Equal(1, Provider.TokenRequests);
        Assert.StartsWith(RefreshCoordinator.OutcomeUnknownPrefix, (await RowAsync(created.Session)).LastError);
    }

    [Fact]
    public async Task Refresh_500FromAProviderSeenNotToRotate_RetriedInLine()
    {
        var created = await HandOverAsync(expiresIn: TimeSpan.FromMinutes(5));
        Environment.Clock.Advance(TimeSpan.FromMinutes(6));
        Provider.Then(ScriptedResponse.Tokens(rotate: false));
        await Expect.TokenAsync(await Host.RefreshAsync(created.Session));
        Environment.Clock.Advance(TimeSpan.FromHours(2));
        Provider.Then(ScriptedResponse.ServerError(500)).Then(ScriptedResponse.Tokens(rotate: false));

        Assert.True((await Expect.TokenAsync(await Host.RefreshAsync(created.Session))).Refreshed);

        Assert.Equal(3, Provider.TokenRequests);
    }

    [Fact]
    public async Task Refresh_TransientFailureThenSuccess_RetriedOnceAndRefreshed()
    {
        var created = await HandOverAsync(expiresIn: TimeSpan.FromMinutes(5));
        Environment.Clock.Advance(TimeSpan.FromMinutes(6));
        Provider.Then(ScriptedResponse.ServerError(503));

        var answer = await Expect.TokenAsync(await Host.RefreshAsync(created.Session));

        Assert.True(answer.Refreshed);
        Assert.Equal(2, Provider.TokenRequests);

        // A 503 means the provider did not process the token: the same one is sent again, then the rotated one is kept.
        Assert.Equal(["handed-over-refresh", "handed-over-refresh"], Provider.PresentedRefreshTokens);
    }

    [Fact]
    public async Task Refresh_RateLimitedWithLongRetryAfter_429WithTheProvidersDelay()
    {
        var created = await HandOverAsync(expiresIn: TimeSpan.FromMinutes(5));
        Environment.Clock.Advance(TimeSpan.FromMinutes(6));
        Provider.Then(ScriptedResponse.TooManyRequests(retryAfterSeconds: 30));

        using var response = await Host.RefreshAsync(created.Session);

        await Expect.ErrorAsync(response, HttpStatusCode.TooManyRequests, "rate_limited");
        Assert.Equal(TimeSpan.FromSeconds(30), response.Headers.RetryAfter?.Delta);
        Assert.Equal(1, Provider.TokenRequests);
    }

    [Fact]
    public async Task Refresh_ConnectionDroppedAfterSending_NotRetriedBecauseTheTokenMayBeSpent()
    {
        var created = await HandOverAsync(expiresIn: TimeSpan.FromMinutes(5));
        Environment.Clock.Advance(TimeSpan.FromMinutes(6));
        Provider.Then(ScriptedResponse.Dropped());

        await Expect.ErrorAsync(await Host.RefreshAsync(created.Session), HttpStatusCode.ServiceUnavailable, "provider_unavailable");

        Assert.Equal(1, Provider.TokenRequests);
    }

    [Fact]
    public async Task Refresh_ProviderOmitsNewRefreshToken_KeepsTheOldOne()
    {
        var created = await HandOverAsync(expiresIn: TimeSpan.FromMinutes(5));
        Environment.Clock.Advance(TimeSpan.FromMinutes(6));
        Provider.Then(ScriptedResponse.Tokens(rotate: false));

        await Expect.TokenAsync(await Host.RefreshAsync(created.Session));
        Environment.Clock.Advance(TimeSpan.FromHours(2));
        await Expect.TokenAsync(await Host.RefreshAsync(created.Session));

        Assert.Equal(["handed-over-refresh", "handed-over-refresh"], Provider.PresentedRefreshTokens);
    }

    [Fact]
    public async Task Refresh_InvalidGrant_ReauthRequired()
    {
        var created = await HandOverAsync(expiresIn: TimeSpan.FromMinutes(5));
        Environment.Clock.Advance(TimeSpan.FromMinutes(6));
        Provider.Then(ScriptedResponse.OAuthError("invalid_grant"));

        await Expect.ErrorAsync(await Host.RefreshAsync(created.Session), HttpStatusCode.Unauthorized, "reauth_required");

        Assert.Equal(1, Provider.TokenRequests);
    }

    [Fact]
    public async Task Refresh_InvalidClient_ReloadsSecretAndRetriesOnce()
    {
        var created = await HandOverAsync(expiresIn: TimeSpan.FromMinutes(5));
        Environment.Clock.Advance(TimeSpan.FromMinutes(6));
        Provider.Then(ScriptedResponse.OAuthError("invalid_client", 401));

        var answer = await Expect.TokenAsync(await Host.RefreshAsync(created.Session));

        Assert.True(answer.Refreshed);
        Assert.Equal(2, Provider.TokenRequests);
    }

    [Fact]
    public async Task Refresh_ProviderSlowerThanTimeout_503AndTheNextCallUsesTheSameToken()
    {
        Environment.Settings["FunctionsAuth:ProviderTimeout"] = "00:00:01";
        Environment.Settings["FunctionsAuth:LeaseDuration"] = "00:00:15";
        await RestartHostAsync();
        var created = await HandOverAsync(expiresIn: TimeSpan.FromMinutes(5));
        Environment.Clock.Advance(TimeSpan.FromMinutes(6));
        Provider.Then(ScriptedResponse.Tokens() with { Delay = TimeSpan.FromSeconds(3) });

        await Expect.ErrorAsync(await Host.RefreshAsync(created.Session), HttpStatusCode.ServiceUnavailable, "provider_unavailable");
        Assert.Equal(1, Provider.TokenRequests);

        // The answer (and any rotated token in it) was lost: the row still holds the token that was sent, and the next
        // attempt sends it again. A provider that had rotated it would answer invalid_grant (reauth_required) now.
        var row = await RowAsync(created.Session);
        Assert.StartsWith(RefreshCoordinator.OutcomeUnknownPrefix, row.LastError);
        Assert.Null(row.LeaseId);
        Assert.Contains(Host.Logs.Lines, line => line.Contains("the outcome of the refresh at provider scripted is unknown (timeout)", StringComparison.Ordinal));
        Environment.Clock.Advance(TimeSpan.FromMinutes(2));
        Assert.True((await Expect.TokenAsync(await Host.RefreshAsync(created.Session))).Refreshed);
        Assert.Equal(["handed-over-refresh", "handed-over-refresh"], Provider.PresentedRefreshTokens);
    }

    [Fact]
    public async Task HandOver_WithoutAccessToken_RefreshesOnceAndAnswersWithAFreshToken()
    {
        using var response = await Host.PostJsonAsync("api/auth/sessions", """{"provider":"scripted","refresh_token":"handed-over-refresh"}""");

        await Expect.StatusAsync(response, HttpStatusCode.Created);
        var created = (await System.Net.Http.Json.HttpContentJsonExtensions.ReadFromJsonAsync<SessionCreated>(response.Content))!;
        Assert.StartsWith("scripted-access-", created.AccessToken);
        Assert.Equal(["handed-over-refresh"], Provider.PresentedRefreshTokens);
        Assert.False((await Expect.TokenAsync(await Host.RefreshAsync(created.Session))).Refreshed);
    }

    [Fact]
    public async Task Refresh_CallerGivesUpMidRefresh_RotatedTokenStillStoredAndServed()
    {
        var created = await HandOverAsync(expiresIn: TimeSpan.FromMinutes(5));
        Environment.Clock.Advance(TimeSpan.FromMinutes(6));
        Provider.Then(ScriptedResponse.Tokens() with { Delay = TimeSpan.FromSeconds(2) });
        using var impatient = new HttpClient { BaseAddress = Host.Address, Timeout = TimeSpan.FromMilliseconds(300) };
        impatient.DefaultRequestHeaders.Add("x-functions-key", TestEnvironment.FunctionKey);

        await Assert.ThrowsAsync<TaskCanceledException>(() => impatient.PostAsync("api/auth/refresh", new StringContent($$"""{"session":"{{created.Session}}"}""", System.Text.Encoding.UTF8, "application/json")));
        var answer = await Expect.TokenAsync(await Host.RefreshAsync(created.Session));

        // The second call joined the flight still running (or found its result): the provider was asked once.
        Assert.StartsWith("scripted-access-", answer.AccessToken);
        Assert.Equal(1, Provider.TokenRequests);
        Environment.Clock.Advance(TimeSpan.FromHours(2));
        await Expect.TokenAsync(await Host.RefreshAsync(created.Session));
        Assert.Equal(2, Provider.TokenRequests);
        Assert.Equal(2, Provider.PresentedRefreshTokens.Distinct().Count());
    }


}
