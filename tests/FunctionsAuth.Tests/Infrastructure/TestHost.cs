using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using Azure.Data.Tables;
using FunctionsAuth.DemoProvider;
using FunctionsAuth.LocalHost;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FunctionsAuth.Tests.Infrastructure;

/// <summary>
/// What one test runs against: its own tables in Azurite, one encryption key, one clock, and the settings of the
/// providers it uses. Several <see cref="TestHost"/>s started from one environment are instances of one deployment.
/// </summary>
public sealed class TestEnvironment
{
    public const string FunctionKey = "test-function-key-0123456789";
    public const string DemoProvider = "demo";
    public const string ScriptedProvider = "scripted";
    public const string ClientSecret = "demo-secret";

    private TestEnvironment(string connectionString)
    {
        ConnectionString = connectionString;
        Settings = new Dictionary<string, string?>
        {
            ["FunctionsAuth:Storage:ConnectionString"] = connectionString,
            ["AzureWebJobsStorage"] = connectionString,
            ["FunctionsAuth:Storage:SessionsTable"] = SessionsTable,
            ["FunctionsAuth:Storage:DueIndexTable"] = DueIndexTable,
            ["FunctionsAuth:Secrets:token-encryption-key"] = EncryptionKey,
            ["FunctionsAuth:Secrets:client-secret"] = ClientSecret,
            ["LocalHost:FunctionKey"] = FunctionKey,
            ["AzureWebJobs.Sweeper.Disabled"] = "true",

            // Each test's own events queue; the webhook function off unless a test configures a webhook.
            ["EventsQueueName"] = EventsQueueName,
            ["AzureWebJobs.EventWebhook.Disabled"] = "true",
        };
    }

    public string ConnectionString { get; }

    public string SessionsTable { get; } = Azurite.UniqueName("sessions");

    public string DueIndexTable { get; } = Azurite.UniqueName("due");

    public string EventsQueueName { get; } = "events-" + Guid.NewGuid().ToString("N")[..12];

    public string EncryptionKey { get; } = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public TestClock Clock { get; } = new();

    public Dictionary<string, string?> Settings { get; }

    public static async Task<TestEnvironment> CreateAsync() => new(await Azurite.GetConnectionStringAsync());

    /// <summary>Hosts reach storage through <paramref name="proxy"/>, which the test can cut; the test's own table reads go direct.</summary>
    public static async Task<(TestEnvironment Environment, TcpProxy Proxy)> CreateBehindProxyAsync()
    {
        var (proxy, proxied) = TcpProxy.InFrontOf(await Azurite.GetConnectionStringAsync());
        return (new TestEnvironment(proxied), proxy);
    }

    public TestEnvironment WithDemoProvider(DemoOAuthServer server)
    {
        Settings[$"FunctionsAuth:Providers:{DemoProvider}:Kind"] = "Oidc";
        Settings[$"FunctionsAuth:Providers:{DemoProvider}:Issuer"] = server.Issuer.AbsoluteUri;
        Settings[$"FunctionsAuth:Providers:{DemoProvider}:ClientId"] = DemoClient.ClientId;
        Settings[$"FunctionsAuth:Providers:{DemoProvider}:ClientSecretName"] = "client-secret";
        return this;
    }

    public TestEnvironment WithScriptedProvider(ScriptedProvider provider)
    {
        Settings[$"FunctionsAuth:Providers:{ScriptedProvider}:Kind"] = "Oidc";
        Settings[$"FunctionsAuth:Providers:{ScriptedProvider}:TokenEndpoint"] = provider.TokenEndpoint.AbsoluteUri;
        Settings[$"FunctionsAuth:Providers:{ScriptedProvider}:RevocationEndpoint"] = provider.RevocationEndpoint.AbsoluteUri;
        Settings[$"FunctionsAuth:Providers:{ScriptedProvider}:UserInfoEndpoint"] = provider.UserInfoEndpoint.AbsoluteUri;
        Settings[$"FunctionsAuth:Providers:{ScriptedProvider}:ClientAuthentication"] = "ClientSecretPost";
        Settings[$"FunctionsAuth:Providers:{ScriptedProvider}:ClientId"] = "scripted-app";
        Settings[$"FunctionsAuth:Providers:{ScriptedProvider}:ClientSecretName"] = "client-secret";
        return this;
    }

    public Task<TestHost> StartHostAsync(Action<WebApplicationBuilder>? configure = null) => TestHost.StartAsync(this, configure);

    public async Task<TableClient> SessionsTableAsync() => (await Azurite.CreateServiceClientAsync()).GetTableClient(SessionsTable);

    public async Task<TableClient> DueIndexTableAsync() => (await Azurite.CreateServiceClientAsync()).GetTableClient(DueIndexTable);

    /// <summary>Every row of both tables, every property, as text (binary as base64): what a table dump would show.</summary>
    public async Task<string> DumpTablesAsync()
    {
        var dump = new StringBuilder();
        foreach (var table in new[] { await SessionsTableAsync(), await DueIndexTableAsync() })
        {
            await foreach (var row in table.QueryAsync<TableEntity>())
            {
                foreach (var (key, value) in row.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    if (key is "Timestamp" or "odata.etag")
                    {
                        continue;
                    }

                    dump.Append(key).Append('=').Append(value is byte[] bytes ? Convert.ToBase64String(bytes) : Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)).Append(';');
                }

                dump.Append('\n');
            }
        }

        return dump.ToString();
    }

    public static DemoOAuthClient DemoClient { get; } = new()
    {
        ClientId = "functionsauth-tests",
        ClientSecret = ClientSecret,
        RedirectUris = [new Uri("https://app.example/api/auth/callback/demo")],
    };

    public static Uri DemoRedirectUri => DemoClient.RedirectUris[0];
}

/// <summary>One running instance of the local Functions host, on a free loopback port.</summary>
public sealed class TestHost : IAsyncDisposable
{
    private readonly WebApplication app;

    private TestHost(WebApplication app, Uri address, CapturingLoggerProvider logs)
    {
        this.app = app;
        Address = address;
        Logs = logs;
        Client = new HttpClient(OpenApiContract.CreateHandler()) { BaseAddress = address, Timeout = TimeSpan.FromSeconds(100) };
        Client.DefaultRequestHeaders.Add("x-functions-key", TestEnvironment.FunctionKey);
    }

    public Uri Address { get; }

    /// <summary>Sends the function key on every request; every answer is checked against docs/openapi.yaml.</summary>
    public HttpClient Client { get; }

    public CapturingLoggerProvider Logs { get; }

    public IServiceProvider Services => app.Services;

    public static async Task<TestHost> StartAsync(TestEnvironment environment, Action<WebApplicationBuilder>? configure = null)
    {
        var logs = new CapturingLoggerProvider();
        // An empty content root: a developer's local.settings.json (copied along with the app) must not leak into tests.
        var contentRoot = Directory.CreateTempSubdirectory("functionsauth-host-").FullName;
        var app = LocalFunctionsHost.Build(["--urls", "http://127.0.0.1:0", "--contentRoot", contentRoot], builder =>
        {
            builder.Configuration.AddInMemoryCollection(environment.Settings);
            builder.Services.AddSingleton<TimeProvider>(environment.Clock);
            builder.Logging.ClearProviders();
            builder.Logging.SetMinimumLevel(LogLevel.Trace);
            builder.Logging.AddProvider(logs);
            configure?.Invoke(builder);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        return new TestHost(app, new Uri(address), logs);
    }

    public Task<HttpResponseMessage> PostJsonAsync(string path, string json) =>
        Client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));

    public Task<HttpResponseMessage> RefreshAsync(string session, int? minTtl = null) =>
        PostJsonAsync("api/auth/refresh", minTtl is null
            ? $$"""{"session":"{{session}}"}"""
            : $$"""{"session":"{{session}}","min_ttl":{{minTtl}}}""");

    /// <summary>A refresh for a token of a narrower <paramref name="scope"/> and/or for a <paramref name="resource"/> (RFC 8707).</summary>
    public Task<HttpResponseMessage> RefreshAsync(string session, string? scope, string? resource = null, int? minTtl = null)
    {
        var body = new Dictionary<string, object> { ["session"] = session };
        if (scope is not null)
        {
            body["scope"] = scope;
        }

        if (resource is not null)
        {
            body["resource"] = resource;
        }

        if (minTtl is not null)
        {
            body["min_ttl"] = minTtl;
        }

        return Client.PostAsJsonAsync("api/auth/refresh", body);
    }

    public Task<HttpResponseMessage> RevokeAsync(string session) =>
        PostJsonAsync("api/auth/revoke", $$"""{"session":"{{session}}"}""");

    /// <summary>Signs <paramref name="subject"/> in at the demo server (code + PKCE) and registers the session.</summary>
    public async Task<SessionCreated> SignInAsync(DemoOAuthServer server, string subject = "alice", string scope = "openid offline_access api")
    {
        var code = await server.AuthorizeAsync(TestEnvironment.DemoClient.ClientId, TestEnvironment.DemoRedirectUri, scope, subject);
        using var response = await Client.PostAsJsonAsync("api/auth/sessions", new Dictionary<string, string>
        {
            ["provider"] = TestEnvironment.DemoProvider,
            ["code"] = code.Code,
            ["code_verifier"] = code.CodeVerifier,
            ["redirect_uri"] = code.RedirectUri.AbsoluteUri,
        });
        await Expect.StatusAsync(response, System.Net.HttpStatusCode.Created);
        return (await response.Content.ReadFromJsonAsync<SessionCreated>())!;
    }

    /// <summary>Registers a session by handing tokens over (the second form of <c>POST /api/auth/sessions</c>).</summary>
    public async Task<SessionCreated> HandOverAsync(string provider, string refreshToken, string accessToken, DateTimeOffset expiresAt)
    {
        using var response = await Client.PostAsJsonAsync("api/auth/sessions", new Dictionary<string, object>
        {
            ["provider"] = provider,
            ["refresh_token"] = refreshToken,
            ["access_token"] = accessToken,
            ["expires_at"] = expiresAt.ToUnixTimeSeconds(),
            ["scope"] = "openid api",
        });
        await Expect.StatusAsync(response, System.Net.HttpStatusCode.Created);
        return (await response.Content.ReadFromJsonAsync<SessionCreated>())!;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
