using System.Net;
using System.Text;
using FunctionsAuth.Tests.Infrastructure;

namespace FunctionsAuth.Tests.Api;

/// <summary>
/// Every answer, the local host's own function-key 401 included, says <c>X-Content-Type-Options: nosniff</c> and
/// <c>Cache-Control: no-store</c>: bodies are JSON that may hold a token or echo caller input.
/// </summary>
public sealed class ResponseHeaderTests : IAsyncLifetime
{
    private const string UnknownHandle = "Qm7f3yXo9kq1Zp0cVbN2sLw8tRe4uYiA6hGjDkF5xMc";

    private TestHost host = null!;

    public async Task InitializeAsync() => host = await (await TestEnvironment.CreateAsync()).StartHostAsync();

    public async Task DisposeAsync() => await host.DisposeAsync();

    [Theory]
    [InlineData("GET", "api/health", null, HttpStatusCode.OK)]
    [InlineData("POST", "api/auth/refresh", "not json", HttpStatusCode.BadRequest)]
    [InlineData("POST", "api/auth/refresh", $$"""{"session":"{{UnknownHandle}}"}""", HttpStatusCode.Unauthorized)]
    [InlineData("POST", "api/auth/revoke", $$"""{"session":"{{UnknownHandle}}"}""", HttpStatusCode.NoContent)]
    [InlineData("POST", "api/auth/sessions", """{"provider":"nobody","refresh_token":"x"}""", HttpStatusCode.BadRequest)]
    public async Task EveryAnswer_SaysNoSniffAndNoStore(string method, string path, string? body, HttpStatusCode status)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        using var response = await host.Client.SendAsync(request);

        Assert.Equal(status, response.StatusCode);
        AssertNoSniffNoStore(response);
    }

    [Theory]
    [InlineData("api/auth/refresh")]
    [InlineData("api/auth/revoke")]
    [InlineData("api/auth/sessions")]
    public async Task LocalHostKeyCheck_401_SaysNoSniffAndNoStore(string path)
    {
        // Checked against docs/openapi.yaml like every other answer, which now requires both headers on this 401 too.
        using var withoutKey = OpenApiContract.CreateClient(host.Address);

        using var response = await withoutKey.PostAsync(path, new StringContent($$"""{"session":"{{UnknownHandle}}"}""", Encoding.UTF8, "application/json"));

        await Expect.ErrorAsync(response, HttpStatusCode.Unauthorized, "invalid_client");
        AssertNoSniffNoStore(response);
    }

    private static void AssertNoSniffNoStore(HttpResponseMessage response)
    {
        Assert.Equal(["nosniff"], response.Headers.GetValues("X-Content-Type-Options"));
        Assert.True(response.Headers.CacheControl?.NoStore, $"Cache-Control: {response.Headers.CacheControl}");
    }
}
