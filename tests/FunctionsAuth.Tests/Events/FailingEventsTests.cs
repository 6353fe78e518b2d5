using System.Net;
using FunctionsAuth.Tests.Infrastructure;

namespace FunctionsAuth.Tests.Events;

/// <summary>A provider down for longer than the failure limit (a fault a real server will not produce on demand): one failing event, then one recovered.</summary>
public sealed class FailingEventsTests : ScriptedProviderTestBase
{
    [Fact]
    public async Task ProviderDownPastMaxFailureDuration_OneFailingEvent_ThenOneRecoveredWhenItRefreshesAgain()
    {
        Environment.Settings["FunctionsAuth:Sweeper:MaxFailureDuration"] = "00:30:00";
        await RestartHostAsync();
        using var created = await Host.PostJsonAsync("api/auth/sessions", $$"""{"provider":"{{TestEnvironment.ScriptedProvider}}","refresh_token":"handed-over-refresh","access_token":"handed-over-access","expires_at":{{Environment.Clock.GetUtcNow().AddMinutes(5).ToUnixTimeSeconds()}},"subject":"user-21"}""");
        await Expect.StatusAsync(created, HttpStatusCode.Created);
        var session = (await System.Net.Http.Json.HttpContentJsonExtensions.ReadFromJsonAsync<SessionCreated>(created.Content))!.Session;

        // Three failed refreshes over an hour (each one three 503s: the client retries in line): the second crosses the limit.
        for (var i = 0; i < 3; i++)
        {
            Environment.Clock.Advance(TimeSpan.FromMinutes(31));
            Provider.Then(ScriptedResponse.ServerError()).Then(ScriptedResponse.ServerError()).Then(ScriptedResponse.ServerError());
            await Expect.ErrorAsync(await Host.RefreshAsync(session), HttpStatusCode.ServiceUnavailable, "provider_unavailable");
        }

        Environment.Clock.Advance(TimeSpan.FromMinutes(31));
        Provider.Then(ScriptedResponse.Tokens());
        Assert.True((await Expect.TokenAsync(await Host.RefreshAsync(session))).Refreshed);
        Environment.Clock.Advance(TimeSpan.FromHours(2));
        Assert.True((await Expect.TokenAsync(await Host.RefreshAsync(session))).Refreshed);

        var events = await Host.QueuedEventsAsync(Environment);
        Assert.Equal(["functionsauth.session.failing", "functionsauth.session.recovered"], events.Select(e => e.Type));
        Assert.All(events, e => Assert.Equal("user-21", e.Subject));
        Assert.Equal("server_error", EventsTestSupport.DataOf(events[0]).GetProperty("reason").GetString());
        Assert.False(EventsTestSupport.DataOf(events[1]).TryGetProperty("reason", out _));
        Assert.NotEqual(events[0].Id, events[1].Id);
    }

    [Fact]
    public async Task HandOverTheProviderRefuses_400AndNoEvent()
    {
        Provider.Then(ScriptedResponse.OAuthError("invalid_grant"));

        using var response = await Host.PostJsonAsync("api/auth/sessions", $$"""{"provider":"{{TestEnvironment.ScriptedProvider}}","refresh_token":"dead-refresh","subject":"user-22"}""");

        await Expect.ErrorAsync(response, HttpStatusCode.BadRequest, "invalid_grant");
        Assert.Empty(await Host.QueuedEventsAsync(Environment));
    }
}
