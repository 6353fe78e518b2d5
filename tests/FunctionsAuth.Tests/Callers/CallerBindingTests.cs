using System.Net;
using System.Net.Http.Json;
using System.Text;
using Azure.Data.Tables;
using FunctionsAuth.Callers;
using FunctionsAuth.Sessions;
using FunctionsAuth.Tests.Infrastructure;

namespace FunctionsAuth.Tests.Callers;

/// <summary>
/// A session belongs to the caller (front end) that created it: another caller holding its handle gets what an
/// unknown handle gets. End to end through the local host, the real demo provider and Azurite, with App Service
/// Authentication played by the test (the local host told to pass <c>X-MS-CLIENT-PRINCIPAL</c> on).
/// </summary>
public sealed class CallerBindingTests : DemoProviderTestBase
{
    private const string Shop = "11111111-aaaa-4000-8000-000000000001";
    private const string Blog = "22222222-bbbb-4000-8000-000000000002";

    [Fact]
    public async Task AppServiceAuthentication_AnotherAppsHandle_RefreshAnsweredAsUnknown_RevokeLeavesItAlone()
    {
        await using var host = await StartAsync(CallerIdentitySource.AppServiceAuthentication);
        using var shop = Caller(host, principal: Principal(("azp", Shop)));
        using var blog = Caller(host, principal: Principal(("appid", Blog)));
        var created = await SignInAsync(shop);

        using var foreign = await RefreshAsync(blog, created.Session);
        using var unknown = await RefreshAsync(blog, SessionHandle.Create());
        await AssertIndistinguishableAsync(foreign, unknown);
        using var revokedByBlog = await blog.PostAsJsonAsync("api/auth/revoke", new { session = created.Session });
        await Expect.StatusAsync(revokedByBlog, HttpStatusCode.NoContent);

        // Still the shop's, untouched, and the provider never heard of the blog.
        Assert.Equal("app:" + Shop, (await RowAsync(created.Session)).Owner);
        Assert.Equal(created.AccessToken, (await Expect.TokenAsync(await RefreshAsync(shop, created.Session))).AccessToken);
        Assert.Equal(0, Server.Statistics.RevocationRequests);
        Assert.Contains("which did not create it", host.Logs.AllText, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not base64!")]
    [InlineData("eyJjbGFpbXMiOltdfQ==")] // {"claims":[]}
    public async Task AppServiceAuthentication_NoUsablePrincipal_401InvalidClient_BeforeAnythingElse(string? principal)
    {
        await using var host = await StartAsync(CallerIdentitySource.AppServiceAuthentication);
        using var anonymous = Caller(host, principal: principal);

        using var response = await anonymous.PostAsJsonAsync("api/auth/sessions", new { provider = "demo", refresh_token = "x" });

        await Expect.ErrorAsync(response, HttpStatusCode.Unauthorized, "invalid_client");
        Assert.Equal("", await Environment.DumpTablesAsync());
    }

    [Fact]
    public async Task AppServiceAuthentication_WhereThePlatformDoesNotSetTheHeader_RefusedAtStart()
    {
        Environment.Settings["FunctionsAuth:Callers:Mode"] = nameof(CallerIdentitySource.AppServiceAuthentication);

        var failure = await Assert.ThrowsAnyAsync<Exception>(() => Environment.StartHostAsync());

        Assert.Contains("WEBSITE_AUTH_ENABLED", failure.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task LocalHost_NotToldToTrustIt_DropsAClientSuppliedPrincipalHeader()
    {
        // App settings copied from Azure (WEBSITE_AUTH_ENABLED included) onto the local host, which has no App Service
        // Authentication in front: a client's own X-MS-CLIENT-PRINCIPAL must not make it any app it names.
        Environment.Settings["WEBSITE_AUTH_ENABLED"] = "True";
        await using var host = await StartAsync(CallerIdentitySource.AppServiceAuthentication, trustPrincipal: false);
        using var forger = Caller(host, principal: Principal(("azp", Shop)));

        using var response = await forger.PostAsJsonAsync("api/auth/sessions", new { provider = "demo", refresh_token = "x" });

        await Expect.ErrorAsync(response, HttpStatusCode.Unauthorized, "invalid_client");
        Assert.Equal(0, Server.Statistics.RefreshRequests);
    }

    [Fact]
    public async Task CallerKeys_EachFrontEndItsOwnKey_SessionsBoundToTheKeysName()
    {
        await using var host = await StartAsync(CallerIdentitySource.CallerKeys);
        using var shop = Caller(host, key: ShopKey);
        using var blog = Caller(host, key: BlogKey);
        using var wrong = Caller(host, key: ShopKey[..^1] + "x");
        var created = await SignInAsync(shop);

        using var foreign = await RefreshAsync(blog, created.Session);
        using var unknown = await RefreshAsync(blog, SessionHandle.Create());
        using var wrongKey = await RefreshAsync(wrong, created.Session);

        await AssertIndistinguishableAsync(foreign, unknown);
        await Expect.ErrorAsync(wrongKey, HttpStatusCode.Unauthorized, "invalid_client");
        Assert.Equal("key:shop", (await RowAsync(created.Session)).Owner);
        Assert.Equal(created.AccessToken, (await Expect.TokenAsync(await RefreshAsync(shop, created.Session))).AccessToken);
        Assert.DoesNotContain(ShopKey, host.Logs.AllText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CallerKeys_AnotherCallersHandleWithAScope_AnsweredAsUnknownNothingSentNothingStored()
    {
        await using var host = await StartAsync(CallerIdentitySource.CallerKeys);
        using var shop = Caller(host, key: ShopKey);
        using var blog = Caller(host, key: BlogKey);
        var created = await SignInAsync(shop);
        var before = await Environment.DumpTablesAsync();

        using var foreign = await blog.PostAsJsonAsync("api/auth/refresh", new { session = created.Session, scope = "api" });
        using var unknown = await blog.PostAsJsonAsync("api/auth/refresh", new { session = SessionHandle.Create(), scope = "api" });

        await AssertIndistinguishableAsync(foreign, unknown);
        Assert.Equal(before, await Environment.DumpTablesAsync());
        Assert.Equal(0, Server.Statistics.RefreshRequests);
        using var own = await shop.PostAsJsonAsync("api/auth/refresh", new { session = created.Session, scope = "api" });
        Assert.True((await Expect.TokenAsync(own)).Refreshed);
    }

    [Fact]
    public async Task RefusedRegistrations_LimitedPerCaller_OtherCallersUnaffected()
    {
        Environment.Settings["FunctionsAuth:Registration:FailureLimit"] = "2";
        await using var host = await StartAsync(CallerIdentitySource.CallerKeys);
        using var shop = Caller(host, key: ShopKey);
        using var blog = Caller(host, key: BlogKey);
        var garbage = new { provider = "demo", code = "not-a-code", code_verifier = new string('v', 43), redirect_uri = TestEnvironment.DemoRedirectUri.AbsoluteUri };

        for (var i = 0; i < 2; i++)
        {
            using var refused = await shop.PostAsJsonAsync("api/auth/sessions", garbage);
            await Expect.ErrorAsync(refused, HttpStatusCode.BadRequest, "invalid_grant");
        }

        using var limited = await shop.PostAsJsonAsync("api/auth/sessions", garbage);
        using var otherCaller = await blog.PostAsJsonAsync("api/auth/sessions", garbage);

        await Expect.ErrorAsync(limited, (HttpStatusCode)429, "rate_limited");
        Assert.NotNull(limited.Headers.RetryAfter);
        await Expect.ErrorAsync(otherCaller, HttpStatusCode.BadRequest, "invalid_grant");
    }

    [Fact]
    public async Task SessionWithoutOwner_AdoptedByItsFirstCaller_ThenBoundToIt()
    {
        await using var host = await StartAsync(CallerIdentitySource.AppServiceAuthentication);
        using var shop = Caller(host, principal: Principal(("azp", Shop)));
        using var blog = Caller(host, principal: Principal(("azp", Blog)));
        var created = await SignInAsync(shop);
        await RemoveOwnerAsync(created.Session);

        Assert.Equal(created.AccessToken, (await Expect.TokenAsync(await RefreshAsync(blog, created.Session))).AccessToken);
        using var formerOwner = await RefreshAsync(shop, created.Session);

        Assert.Equal("app:" + Blog, (await RowAsync(created.Session)).Owner);
        await Expect.ErrorAsync(formerOwner, HttpStatusCode.Unauthorized, "invalid_session");
    }

    [Fact]
    public async Task SessionWithoutOwner_PolicyRefuse_AnsweredAsUnknown()
    {
        Environment.Settings["FunctionsAuth:Callers:UnownedSessions"] = nameof(UnownedSessionPolicy.Refuse);
        await using var host = await StartAsync(CallerIdentitySource.AppServiceAuthentication);
        using var shop = Caller(host, principal: Principal(("azp", Shop)));
        var created = await SignInAsync(shop);
        await RemoveOwnerAsync(created.Session);

        using var response = await RefreshAsync(shop, created.Session);

        await Expect.ErrorAsync(response, HttpStatusCode.Unauthorized, "invalid_session");
        Assert.Null((await RowAsync(created.Session)).Owner);
    }

    private static string ShopKey => "shop-caller-key-0123456789abcdefghijklmnop";

    private static string BlogKey => "blog-caller-key-0123456789abcdefghijklmnop";

    private async Task<TestHost> StartAsync(CallerIdentitySource mode, bool trustPrincipal = true)
    {
        Environment.Settings["FunctionsAuth:Callers:Mode"] = mode.ToString();
        Environment.Settings["LocalHost:TrustClientPrincipalHeader"] = trustPrincipal ? "true" : "false";
        Environment.Settings["FunctionsAuth:Callers:Keys:shop"] = "caller-key-shop";
        Environment.Settings["FunctionsAuth:Callers:Keys:blog"] = "caller-key-blog";
        Environment.Settings["FunctionsAuth:Secrets:caller-key-shop"] = ShopKey;
        Environment.Settings["FunctionsAuth:Secrets:caller-key-blog"] = BlogKey;
        return await Environment.StartHostAsync();
    }

    private static HttpClient Caller(TestHost host, string? principal = null, string? key = null)
    {
        var client = OpenApiContract.CreateClient(host.Address);
        client.DefaultRequestHeaders.Add("x-functions-key", TestEnvironment.FunctionKey);
        if (principal is not null)
        {
            client.DefaultRequestHeaders.Add(CallerCredentials.ClientPrincipalHeader, principal);
        }

        if (key is not null)
        {
            client.DefaultRequestHeaders.Add(CallerCredentials.CallerKeyHeader, key);
        }

        return client;
    }

    /// <summary>The header as App Service Authentication writes it: base64 of <c>{"auth_typ":"aad","claims":[{"typ":..,"val":..}]}</c>.</summary>
    private static string Principal(params (string Type, string Value)[] claims) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(System.Text.Json.JsonSerializer.Serialize(new
        {
            auth_typ = "aad",
            claims = claims.Select(c => new { typ = c.Type, val = c.Value }).Append(new { typ = "aud", val = "api://functionsauth" }),
            name_typ = "name",
            role_typ = "roles",
        })));

    private async Task<SessionCreated> SignInAsync(HttpClient client)
    {
        var code = await Server.AuthorizeAsync(TestEnvironment.DemoClient.ClientId, TestEnvironment.DemoRedirectUri, "openid offline_access api", "alice");
        using var response = await client.PostAsJsonAsync("api/auth/sessions", new Dictionary<string, string>
        {
            ["provider"] = TestEnvironment.DemoProvider,
            ["code"] = code.Code,
            ["code_verifier"] = code.CodeVerifier,
            ["redirect_uri"] = code.RedirectUri.AbsoluteUri,
        });
        await Expect.StatusAsync(response, HttpStatusCode.Created);
        return (await response.Content.ReadFromJsonAsync<SessionCreated>())!;
    }

    private static Task<HttpResponseMessage> RefreshAsync(HttpClient client, string session) =>
        client.PostAsJsonAsync("api/auth/refresh", new { session });

    private async Task RemoveOwnerAsync(string handle)
    {
        var table = await Environment.SessionsTableAsync();
        var key = KeyOf(handle).Value;
        var row = (await table.GetEntityAsync<TableEntity>(key, key)).Value;
        Assert.True(row.Remove("Owner"));
        await table.UpdateEntityAsync(row, row.ETag, TableUpdateMode.Replace);
    }

    /// <summary>Same status, same body, same headers (values too, but the date): nothing tells "not yours" from "no such session".</summary>
    private static async Task AssertIndistinguishableAsync(HttpResponseMessage foreign, HttpResponseMessage unknown)
    {
        await Expect.ErrorAsync(foreign, HttpStatusCode.Unauthorized, "invalid_session");
        Assert.Equal(unknown.StatusCode, foreign.StatusCode);
        Assert.Equal(await unknown.Content.ReadAsStringAsync(), await foreign.Content.ReadAsStringAsync());
        static string Headers(HttpResponseMessage r) => string.Join('\n', r.Headers.Concat(r.Content.Headers)
            .Where(h => h.Key != "Date")
            .OrderBy(h => h.Key, StringComparer.Ordinal)
            .Select(h => h.Key + ": " + string.Join(',', h.Value)));
        Assert.Equal(Headers(unknown), Headers(foreign));
    }
}
