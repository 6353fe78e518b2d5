using System.Net;
using FunctionsAuth.Tests.Infrastructure;

namespace FunctionsAuth.Tests.EndToEnd;

/// <summary>Storage that answers only after the host started (an emulator still starting, DNS settling): no 500, and the tables appear.</summary>
public sealed class StorageAtStartTests
{
    [Fact]
    public async Task Start_StorageUnreachable_Answers503ThenCreatesTheTablesWhenStorageAnswers()
    {
        await using var provider = await ScriptedProvider.StartAsync();
        var (environment, proxy) = await TestEnvironment.CreateBehindProxyAsync();
        await using var _ = proxy;
        environment.WithScriptedProvider(provider);
        proxy.Cut();
        await using var host = await environment.StartHostAsync();
        var expiresAt = environment.Clock.GetUtcNow().AddHours(1).ToUnixTimeSeconds();
        var body = $$"""{"provider":"scripted","refresh_token":"handed-over-refresh","access_token":"handed-over-access","expires_at":{{expiresAt}}}""";

        using var duringOutage = await host.PostJsonAsync("api/auth/sessions", body);
        await Expect.ErrorAsync(duringOutage, HttpStatusCode.ServiceUnavailable, "temporarily_unavailable");
        using var anonymous = OpenApiContract.CreateClient(host.Address);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await anonymous.GetAsync("api/health")).StatusCode);
        proxy.Restore();

        var deadline = DateTime.UtcNow.AddSeconds(30);
        HttpStatusCode status;
        do
        {
            await Task.Delay(250);
            using var attempt = await host.PostJsonAsync("api/auth/sessions", body);
            status = attempt.StatusCode;
            Assert.True(status is HttpStatusCode.Created or HttpStatusCode.ServiceUnavailable, $"answered {status}");
        }
        while (status != HttpStatusCode.Created && DateTime.UtcNow < deadline);

        Assert.Equal(HttpStatusCode.Created, status);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("api/health")).StatusCode);
        Assert.DoesNotContain(host.Logs.Lines, line => line.Contains("Unexpected", StringComparison.Ordinal));
    }
}
