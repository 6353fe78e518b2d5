using System.Buffers.Text;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using FunctionsAuth.DemoProvider.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace FunctionsAuth.DemoProvider;

/// <summary>
/// A real OAuth 2.0 / OpenID Connect server (OpenIddict) on loopback http: authorization code + PKCE (S256),
/// rotating refresh tokens with strict reuse detection, RFC 7009 revocation, discovery and JWKS.
/// </summary>
public sealed class DemoOAuthServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly RSA _signingKey;
    private readonly HttpClient _frontChannel;
    private int _disposed;

    private DemoOAuthServer(WebApplication app, RSA signingKey, Uri issuer, DemoOAuthServerStatistics statistics)
    {
        _app = app;
        _signingKey = signingKey;
        Issuer = issuer;
        Statistics = statistics;

        // The front channel is a browser following the authorization redirect; we read the redirect instead.
        _frontChannel = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false });
    }

    /// <summary>The issuer and base address, with a trailing slash, e.g. <c>http://127.0.0.1:54321/</c>.</summary>
    public Uri Issuer { get; }

    public DemoOAuthServerStatistics Statistics { get; }

    /// <summary>Binds <c>127.0.0.1</c> on <see cref="DemoOAuthServerOptions.Port"/> (0 picks a free port).</summary>
    public static Task<DemoOAuthServer> StartAsync(DemoOAuthServerOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();

        // Tests start many servers in one process: no reloadable configuration files, each would cost a file watcher.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
        });
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, options.Port));

        return StartCoreAsync(builder, options, ct);
    }

    /// <summary>
    /// The <c>dotnet run</c> host: options from the <c>DemoProvider</c> configuration section; listens on
    /// <c>--urls</c> when given, otherwise on 127.0.0.1 and <c>DemoProvider:Port</c> (default 5080).
    /// </summary>
    internal static async Task<DemoOAuthServer> StartStandaloneAsync(string[] args, CancellationToken ct = default)
    {
        var builder = WebApplication.CreateSlimBuilder(args);

        var options = new DemoOAuthServerOptions { Port = 5080 };
        builder.Configuration.GetSection("DemoProvider").Bind(options);
        options.Validate();

        if (string.IsNullOrEmpty(builder.Configuration[WebHostDefaults.ServerUrlsKey]))
        {
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, options.Port));
        }

        var server = await StartCoreAsync(builder, options, ct);

        var logger = server._app.Services.GetRequiredService<ILogger<DemoOAuthServer>>();
        foreach (var client in options.EffectiveClients)
        {
            Log.ServerStarted(logger, server.Issuer, client.ClientId, string.Join(" ", client.RedirectUris));
        }

        return server;
    }

    private static async Task<DemoOAuthServer> StartCoreAsync(
        WebApplicationBuilder builder, DemoOAuthServerOptions options, CancellationToken ct)
    {
        var statistics = new DemoOAuthServerStatistics();
        var databaseName = "demo-provider-" + Guid.NewGuid().ToString("N");
        var signingKey = RSA.Create(2048);
        var app = DemoProviderApplication.Build(builder, options, statistics, databaseName, signingKey);

        try
        {
            // Clients exist before the first request can arrive.
            await ClientRegistration.RegisterAsync(app.Services, options.EffectiveClients, ct);
            await app.StartAsync(ct);
            return new DemoOAuthServer(app, signingKey, ResolveIssuer(app), statistics);
        }
        catch
        {
            await app.DisposeAsync();
            signingKey.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Revokes every authorization and token of <paramref name="subject"/>, as an admin "sign out everywhere"
    /// would: the next refresh with any of them gets a real <c>invalid_grant</c>.
    /// </summary>
    public async Task RevokeGrantsAsync(string subject, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(subject);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);

        await GrantRevocation.RevokeBySubjectAsync(_app.Services, subject, ct);
    }

    /// <summary>
    /// Performs the front-channel step a browser would: <c>GET /connect/authorize</c> with a fresh PKCE S256
    /// challenge, signed in as <paramref name="subject"/>, and reads the code from the redirect.
    /// </summary>
    /// <exception cref="InvalidOperationException">The server refused the authorization request.</exception>
    public async Task<AuthorizationCode> AuthorizeAsync(
        string clientId, Uri redirectUri, string scope, string subject, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(clientId);
        ArgumentNullException.ThrowIfNull(redirectUri);
        ArgumentException.ThrowIfNullOrWhiteSpace(scope);
        ArgumentException.ThrowIfNullOrWhiteSpace(subject);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);

        var codeVerifier = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        var codeChallenge = Base64Url.EncodeToString(SHA256.HashData(Encoding.ASCII.GetBytes(codeVerifier)));
        var state = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(16));

        var requestUri = QueryHelpers.AddQueryString(new Uri(Issuer, "connect/authorize").AbsoluteUri, new Dictionary<string, string?>
        {
            [Parameters.ResponseType] = ResponseTypes.Code,
            [Parameters.ClientId] = clientId,
            [Parameters.RedirectUri] = redirectUri.AbsoluteUri,
            [Parameters.Scope] = scope,
            [Parameters.State] = state,
            [Parameters.CodeChallenge] = codeChallenge,
            [Parameters.CodeChallengeMethod] = CodeChallengeMethods.Sha256,
            [Parameters.LoginHint] = subject,
        });

        using var response = await _frontChannel.GetAsync(requestUri, ct);

        if (response.StatusCode is not (HttpStatusCode.Found or HttpStatusCode.SeeOther) ||
            response.Headers.Location is not { IsAbsoluteUri: true } location)
        {
            var body = await response.Content.ReadAsStringAsync(ct);
            throw new InvalidOperationException(
                $"The authorization endpoint answered {(int)response.StatusCode} instead of redirecting: {body}");
        }

        var query = QueryHelpers.ParseQuery(location.Query);

        if (query.TryGetValue(Parameters.Error, out var error))
        {
            query.TryGetValue(Parameters.ErrorDescription, out var description);
            throw new InvalidOperationException($"The authorization request was refused: {error} ({description}).");
        }

        if (!query.TryGetValue(Parameters.State, out var returnedState) || returnedState != state)
        {
            throw new InvalidOperationException("The authorization response did not return the request's state.");
        }

        if (!query.TryGetValue(Parameters.Code, out var code) || string.IsNullOrEmpty(code))
        {
            throw new InvalidOperationException("The authorization response carries no code.");
        }

        return new AuthorizationCode(code.ToString(), codeVerifier, redirectUri);
    }

    internal Task WaitForShutdownAsync(CancellationToken ct = default) => _app.WaitForShutdownAsync(ct);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _frontChannel.Dispose();
        await _app.StopAsync();

        // Unique names keep servers apart, but the InMemory store lives as long as the process: free it.
        await DemoProviderApplication.DeleteDatabaseAsync(_app.Services);
        await _app.DisposeAsync();
        _signingKey.Dispose();
    }

    private static Uri ResolveIssuer(WebApplication app)
    {
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>()
            .Addresses.First();

        // A wildcard binding (--urls http://+:5080) is reachable on loopback; it is not a host name.
        var uri = new UriBuilder(address.Replace("://+", "://localhost", StringComparison.Ordinal)
                                        .Replace("://*", "://localhost", StringComparison.Ordinal));
        if (uri.Host is "0.0.0.0" or "[::]")
        {
            uri.Host = "localhost";
        }

        uri.Path = "/";
        return uri.Uri;
    }
}
