using System.Net;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsAuth.Tests.OAuth;

/// <summary>A discovery document that cannot be used is the provider's configuration problem: a 502 to the caller, never a 500.</summary>
public sealed class DiscoveryFailureTests : IAsyncLifetime
{
    private const string Verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    private WebApplication discovery = null!;
    private string document = "";

    private Uri Issuer { get; set; } = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        discovery = builder.Build();
        discovery.MapGet("/.well-known/openid-configuration", () => Results.Text(document, "application/json"));
        await discovery.StartAsync();
        Issuer = new Uri(discovery.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First() + "/");
    }

    public async Task DisposeAsync() => await discovery.DisposeAsync();

    [Theory]
    [InlineData("another issuer")]
    [InlineData("not JSON")]
    [InlineData("no token endpoint")]
    [InlineData("plain http token endpoint")]
    public async Task CreateSession_DiscoveryDocumentUnusable_Answers502ProviderError(string problem)
    {
        document = problem switch
        {
            "another issuer" => $$"""{"issuer":"https://login.example/{tenantid}/v2.0","token_endpoint":"{{Issuer}}token"}""",
            "not JSON" => "<html><body>Sign in to the proxy</body></html>",
            "no token endpoint" => $$"""{"issuer":"{{Issuer}}"}""",
            _ => $$"""{"issuer":"{{Issuer}}","token_endpoint":"http://idp.example/token"}""",
        };
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings["FunctionsAuth:Providers:broken:Kind"] = "Oidc";
        environment.Settings["FunctionsAuth:Providers:broken:Issuer"] = Issuer.AbsoluteUri;
        environment.Settings["FunctionsAuth:Providers:broken:ClientId"] = "client";
        await using var host = await environment.StartHostAsync();

        using var response = await host.PostJsonAsync(
            "api/auth/sessions",
            $$"""{"provider":"broken","code":"some-code","code_verifier":"{{Verifier}}","redirect_uri":"https://app.example/callback"}""");

        await Expect.ErrorAsync(response, HttpStatusCode.BadGateway, "provider_error");
        Assert.Contains(host.Logs.Lines, l => l.StartsWith("Error ", StringComparison.Ordinal) && l.Contains("Provider broken cannot be used", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Refresh_SessionOfAProviderRemovedFromConfiguration_Answers502ProviderError()
    {
        await using var provider = await ScriptedProvider.StartAsync();
        var environment = (await TestEnvironment.CreateAsync()).WithScriptedProvider(provider);
        SessionCreated created;
        await using (var before = await environment.StartHostAsync())
        {
            created = await before.HandOverAsync(TestEnvironment.ScriptedProvider, "refresh-1", "access-1", environment.Clock.GetUtcNow().AddMinutes(5));
        }

        foreach (var key in environment.Settings.Keys.Where(k => k.StartsWith($"FunctionsAuth:Providers:{TestEnvironment.ScriptedProvider}:", StringComparison.Ordinal)).ToList())
        {
            environment.Settings.Remove(key);
        }

        environment.Clock.Advance(TimeSpan.FromMinutes(6));
        await using var after = await environment.StartHostAsync();

        using var response = await after.RefreshAsync(created.Session);

        await Expect.ErrorAsync(response, HttpStatusCode.BadGateway, "provider_error");
        Assert.Equal(0, provider.TokenRequests);
    }
}
