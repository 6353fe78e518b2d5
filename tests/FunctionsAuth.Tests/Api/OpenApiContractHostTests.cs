using System.Net;
using System.Text;
using FunctionsAuth.Tests.Infrastructure;

namespace FunctionsAuth.Tests.Api;

/// <summary>The check on the real local host: what it exempts is what the host really answers, and a mismatch fails the call.</summary>
public sealed class OpenApiContractHostTests : IAsyncLifetime
{
    private TestHost host = null!;

    public async Task InitializeAsync() => host = await (await TestEnvironment.CreateAsync()).StartHostAsync();

    public async Task DisposeAsync() => await host.DisposeAsync();

    [Theory]
    [InlineData("GET", "api/auth/refresh", HttpStatusCode.MethodNotAllowed)]
    [InlineData("POST", "api/auth/nothing-here", HttpStatusCode.NotFound)]
    [InlineData("POST", "api/health", HttpStatusCode.MethodNotAllowed)]
    public async Task Host_RequestOutsideTheContract_RoutingAnswersAndTheCheckLetsItThrough(string method, string path, HttpStatusCode expected)
    {
        using var response = await host.Client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path) { Content = new StringContent("{}", Encoding.UTF8, "application/json") });

        Assert.Equal(expected, response.StatusCode);
    }

    [Theory]
    [InlineData("api/auth/refresh")]
    [InlineData("api/auth/sessions")]
    [InlineData("api/auth/revoke")]
    public async Task Host_FunctionKeyMissing_401AsTheContractDescribes(string path)
    {
        using var client = OpenApiContract.CreateClient(host.Address);

        using var response = await client.PostAsync(path, new StringContent("{}", Encoding.UTF8, "application/json"));

        await Expect.ErrorAsync(response, HttpStatusCode.Unauthorized, "invalid_client");
    }

    [Fact]
    public async Task Host_AnswerTheDescriptionDoesNotAllow_FailsTheCall()
    {
        // The repository's description without refresh's 400: the host's 400 invalid_request is then a drift.
        var yaml = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "openapi.yaml"));
        var refresh = yaml.IndexOf("  /api/auth/refresh:", StringComparison.Ordinal);
        const string RefreshBadRequest = "        '400':\n          $ref: '#/components/responses/RefreshBadRequest'\n";
        var badRequest = yaml.IndexOf(RefreshBadRequest, refresh, StringComparison.Ordinal);
        Assert.True(refresh > 0 && badRequest > refresh);
        var withoutBadRequest = OpenApiContract.Parse(yaml.Remove(badRequest, RefreshBadRequest.Length));
        using var client = new HttpClient(OpenApiContract.CreateHandler(withoutBadRequest)) { BaseAddress = host.Address };
        client.DefaultRequestHeaders.Add("x-functions-key", TestEnvironment.FunctionKey);

        var error = await Assert.ThrowsAsync<OpenApiContractException>(() => client.PostAsync("api/auth/refresh", new StringContent("{}", Encoding.UTF8, "application/json")));

        Assert.Contains("POST /api/auth/refresh answered 400", error.Message);
        Assert.Contains("status 400 is not one the description lists", error.Message);
    }
}
