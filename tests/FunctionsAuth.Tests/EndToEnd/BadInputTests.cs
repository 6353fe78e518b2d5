using System.Net;
using System.Text;
using FunctionsAuth.DemoProvider;
using FunctionsAuth.Tests.Infrastructure;

namespace FunctionsAuth.Tests.EndToEnd;

/// <summary>Every malformed request gets a clear error in the contract's shape and changes no row.</summary>
public sealed class BadInputTests : DemoProviderTestBase
{
    private SessionCreated session = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        session = await Host.SignInAsync(Server);
    }

    public static TheoryData<string, string?> MalformedBodies => new()
    {
        { "api/auth/refresh", null },
        { "api/auth/refresh", "" },
        { "api/auth/refresh", "not json" },
        { "api/auth/refresh", "[1,2,3]" },
        { "api/auth/refresh", "null" },
        { "api/auth/refresh", """{"session": 12345}""" },
        { "api/auth/refresh", """{"session": "HANDLE", "min_ttl": "60"}""" },
        { "api/auth/refresh", """{"session": "HANDLE", "min_ttl": -1}""" },
        { "api/auth/refresh", """{"session": "HANDLE", "min_ttl": 1.5}""" },
        { "api/auth/refresh", """{"session": "HANDLE", "min_ttl": 999999}""" },
        { "api/auth/refresh", """{"session": "HANDLE", "session": "HANDLE"}""" },
        { "api/auth/refresh", """{"session": "too-short"}""" },
        { "api/auth/refresh", """{"session": "HANDLE=="}""" },
        { "api/auth/refresh", """{"session": "HANDLE", "min_ttl": 60""" },
        { "api/auth/refresh", """{}""" },
        { "api/auth/revoke", """{"session": "not a handle at all, far too long to be one"}""" },
        { "api/auth/revoke", """{"session": null}""" },
        { "api/auth/sessions", """{"provider": "nope", "refresh_token": "x"}""" },
        { "api/auth/sessions", """{"provider": "demo"}""" },
        { "api/auth/sessions", """{"refresh_token": "x"}""" },
        { "api/auth/sessions", """{"provider": "demo", "code": "abc", "refresh_token": "x"}""" },
        { "api/auth/sessions", """{"provider": "demo", "code": "abc", "code_verifier": "short", "redirect_uri": "https://app.example/cb"}""" },
        { "api/auth/sessions", """{"provider": "demo", "code": "abc", "code_verifier": "0123456789012345678901234567890123456789abc", "redirect_uri": "/relative"}""" },
        { "api/auth/sessions", """{"provider": "demo", "refresh_token": "x", "expires_at": 1764000000}""" },
        { "api/auth/sessions", """{"provider": "demo", "refresh_token": "x", "access_token": "y", "expires_at": "soon"}""" },
        { "api/auth/sessions", """{"provider": 7, "refresh_token": "x"}""" },
    };

    [Theory]
    [MemberData(nameof(MalformedBodies))]
    public async Task Post_MalformedBody_400InvalidRequestAndNoRowChanged(string path, string? body)
    {
        var before = await Environment.DumpTablesAsync();
        var calls = Server.Statistics.RefreshRequests + Server.Statistics.AuthorizationCodeRedemptions;
        var content = body is null ? null : new StringContent(body.Replace("HANDLE", session.Session[..43], StringComparison.Ordinal), Encoding.UTF8, "application/json");

        using var response = await Host.Client.PostAsync(path, content);

        var error = await Expect.ErrorAsync(response, HttpStatusCode.BadRequest, "invalid_request");
        Assert.DoesNotContain(session.Session, error.ErrorDescription);
        Assert.Equal(before, await Environment.DumpTablesAsync());
        Assert.Equal(calls, Server.Statistics.RefreshRequests + Server.Statistics.AuthorizationCodeRedemptions);
    }

    [Fact]
    public async Task Post_BodyOver16KiB_400AndNothingRead()
    {
        var before = await Environment.DumpTablesAsync();
        var body = $$"""{"session":"{{session.Session}}","padding":"{{new string('x', 17 * 1024)}}"}""";

        using var response = await Host.PostJsonAsync("api/auth/refresh", body);

        var error = await Expect.ErrorAsync(response, HttpStatusCode.BadRequest, "invalid_request");
        Assert.Contains("16 KiB", error.ErrorDescription);
        Assert.Equal(before, await Environment.DumpTablesAsync());
    }

    [Fact]
    public async Task Refresh_UnknownHandleOfTheRightShape_401InvalidSession()
    {
        var before = await Environment.DumpTablesAsync();
        var unknown = Convert.ToBase64String(new byte[32]).TrimEnd('=').Replace('+', '-').Replace('/', '_');

        await Expect.ErrorAsync(await Host.RefreshAsync(unknown), HttpStatusCode.Unauthorized, "invalid_session");

        Assert.Equal(before, await Environment.DumpTablesAsync());
    }

    [Fact]
    public async Task Revoke_UnknownHandle_204AndNothingChanged()
    {
        var before = await Environment.DumpTablesAsync();
        var unknown = Convert.ToBase64String(Enumerable.Repeat((byte)7, 32).ToArray()).TrimEnd('=').Replace('+', '-').Replace('/', '_');

        await Expect.StatusAsync(await Host.RevokeAsync(unknown), HttpStatusCode.NoContent);

        Assert.Equal(before, await Environment.DumpTablesAsync());
        Assert.Equal(0, Server.Statistics.RevocationRequests);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("wrong-function-key-0000000000")]
    public async Task Post_MissingOrWrongFunctionKey_401AndNoRowChanged(string? key)
    {
        var before = await Environment.DumpTablesAsync();
        using var client = OpenApiContract.CreateClient(Host.Address);
        if (key is not null)
        {
            client.DefaultRequestHeaders.Add("x-functions-key", key);
        }

        foreach (var path in new[] { "api/auth/refresh", "api/auth/revoke", "api/auth/sessions" })
        {
            using var response = await client.PostAsync(path, new StringContent($$"""{"session":"{{session.Session}}"}""", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.DoesNotContain(session.Session, await response.Content.ReadAsStringAsync());
        }

        Assert.Equal(before, await Environment.DumpTablesAsync());
    }

    [Fact]
    public async Task Post_FunctionKeyAsCodeQueryParameter_Accepted()
    {
        using var client = OpenApiContract.CreateClient(Host.Address);

        using var response = await client.PostAsync($"api/auth/refresh?code={TestEnvironment.FunctionKey}", new StringContent($$"""{"session":"{{session.Session}}"}""", Encoding.UTF8, "application/json"));

        await Expect.TokenAsync(response);
    }

    [Fact]
    public async Task Health_NeedsNoKey_200WhenStorageAndSecretsAnswer()
    {
        using var client = OpenApiContract.CreateClient(Host.Address);

        using var response = await client.GetAsync("api/health");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("healthy", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Health_StorageUnreachable_503WithoutSayingWhich()
    {
        await using var broken = await Environment.StartHostAsync(builder => builder.Configuration["FunctionsAuth:Storage:ConnectionString"] =
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;");
        using var client = OpenApiContract.CreateClient(broken.Address);

        using var response = await client.GetAsync("api/health");

        var error = await Expect.ErrorAsync(response, HttpStatusCode.ServiceUnavailable, "unhealthy");
        Assert.DoesNotContain("storage", error.ErrorDescription, StringComparison.OrdinalIgnoreCase);
        Assert.Contains(broken.Logs.Lines, line => line.Contains("storage", StringComparison.Ordinal) && line.Contains("unreachable", StringComparison.Ordinal));
    }
}
