using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FunctionsAuth.Tests.Infrastructure;

/// <summary>
/// A token endpoint that answers from a script, for the faults a real OAuth server will not produce on demand:
/// 5xx, 429 with Retry-After, slow answers, dropped connections. With an empty script it behaves like a rotating
/// provider (new access and refresh token each time) and records every refresh token it was sent.
/// </summary>
public sealed class ScriptedProvider : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly ConcurrentQueue<ScriptedResponse> script = new();
    private readonly ConcurrentQueue<string> presentedRefreshTokens = new();
    private readonly ConcurrentQueue<string> presentedRedirectUris = new();
    private int tokenRequests;
    private int revocationRequests;
    private int userInfoRequests;
    private int issued;

    private ScriptedProvider(WebApplication app, Uri address)
    {
        this.app = app;
        TokenEndpoint = new Uri(address, "token");
        RevocationEndpoint = new Uri(address, "revoke");
        UserInfoEndpoint = new Uri(address, "userinfo");
    }

    /// <summary>Answers 200 for any bearer token but those in <see cref="RefusedAccessTokens"/> (401).</summary>
    public Uri UserInfoEndpoint { get; }

    public ConcurrentDictionary<string, bool> RefusedAccessTokens { get; } = new();

    public int UserInfoRequests => Volatile.Read(ref userInfoRequests);

    public Uri TokenEndpoint { get; }

    public Uri RevocationEndpoint { get; }

    public int TokenRequests => Volatile.Read(ref tokenRequests);

    public int RevocationRequests => Volatile.Read(ref revocationRequests);

    public IReadOnlyCollection<string> PresentedRefreshTokens => presentedRefreshTokens;

    /// <summary>The <c>redirect_uri</c> of every authorization-code redemption, exactly as sent.</summary>
    public IReadOnlyCollection<string> PresentedRedirectUris => presentedRedirectUris;

    /// <summary>Refresh tokens issued so far, newest last (each 200 with a rotated token adds one).</summary>
    public ConcurrentQueue<string> IssuedRefreshTokens { get; } = new();

    /// <summary>When set, a request with another client secret gets 401 invalid_client, as after a secret rotation.</summary>
    public string? ExpectedClientSecret { get; set; }

    /// <summary>Lifetime of the access tokens it issues by default.</summary>
    public TimeSpan AccessTokenLifetime { get; set; } = TimeSpan.FromHours(1);

    public static async Task<ScriptedProvider> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        ScriptedProvider? self = null;
        app.MapPost("/token", context => self!.HandleTokenAsync(context));
        app.MapPost("/revoke", context =>
        {
            Interlocked.Increment(ref self!.revocationRequests);
            return Task.CompletedTask;
        });
        app.MapGet("/userinfo", context =>
        {
            Interlocked.Increment(ref self!.userInfoRequests);
            var header = context.Request.Headers.Authorization.ToString();
            var token = header.StartsWith("Bearer ", StringComparison.Ordinal) ? header["Bearer ".Length..] : "";
            context.Response.StatusCode = token.Length == 0 || self.RefusedAccessTokens.ContainsKey(token) ? 401 : 200;
            return context.Response.StatusCode == 200 ? context.Response.WriteAsJsonAsync(new { sub = "scripted-user" }) : Task.CompletedTask;
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        self = new ScriptedProvider(app, new Uri(address + "/"));
        return self;
    }

    public ScriptedProvider Then(ScriptedResponse response)
    {
        script.Enqueue(response);
        return this;
    }

    private async Task HandleTokenAsync(HttpContext context)
    {
        Interlocked.Increment(ref tokenRequests);
        var form = await context.Request.ReadFormAsync();
        if (form["grant_type"] == "refresh_token")
        {
            presentedRefreshTokens.Enqueue(form["refresh_token"].ToString());
        }
        else if (form["grant_type"] == "authorization_code")
        {
            presentedRedirectUris.Enqueue(form["redirect_uri"].ToString());
        }

        var response = ExpectedClientSecret is { } expected && form["client_secret"] != expected
            ? ScriptedResponse.OAuthError("invalid_client", 401)
            : script.TryDequeue(out var next) ? next : ScriptedResponse.Tokens();
        if (response.Delay > TimeSpan.Zero)
        {
            await Task.Delay(response.Delay);
        }

        if (response.Drop)
        {
            context.Abort();
            return;
        }

        context.Response.StatusCode = response.Status;
        if (response.RetryAfterSeconds is { } retryAfter)
        {
            context.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        var refreshToken = response.RotateRefreshToken ? $"scripted-refresh-{Guid.NewGuid():N}" : null;
        var accessToken = $"scripted-access-{Interlocked.Increment(ref issued)}-{Guid.NewGuid():N}";
        if (response.Status == 200 && refreshToken is not null && (response.Body is null || response.Body.Contains("{refresh_token}", StringComparison.Ordinal)))
        {
            IssuedRefreshTokens.Enqueue(refreshToken);
        }

        if (response.Body is { } raw)
        {
            // A body as a provider or a gateway in front of it wrote it; {access_token} and {refresh_token} are filled in.
            context.Response.ContentType = response.ContentType;
            await context.Response.WriteAsync(raw.Replace("{access_token}", accessToken, StringComparison.Ordinal).Replace("{refresh_token}", refreshToken ?? "", StringComparison.Ordinal));
            return;
        }

        object body = response.Status == 200
            ? new Dictionary<string, object?>
            {
                ["access_token"] = accessToken,
                ["token_type"] = "Bearer",
                ["expires_in"] = (long)AccessTokenLifetime.TotalSeconds,
                ["refresh_token"] = refreshToken,
                ["scope"] = "openid api",
            }
            : new Dictionary<string, object?> { ["error"] = response.Error ?? "server_error" };
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(JsonSerializer.Serialize(body));
    }

    public async ValueTask DisposeAsync() => await app.DisposeAsync();
}

public sealed record ScriptedResponse(int Status, string? Error = null, int? RetryAfterSeconds = null, TimeSpan Delay = default, bool Drop = false, bool RotateRefreshToken = true, string? Body = null, string ContentType = "application/json")
{
    /// <summary>A raw body; <c>{access_token}</c> and <c>{refresh_token}</c> in it become freshly issued tokens.</summary>
    public static ScriptedResponse Raw(int status, string body, string contentType = "application/json") => new(status, Body: body, ContentType: contentType);

    public static ScriptedResponse Tokens(bool rotate = true) => new(200, RotateRefreshToken: rotate);

    public static ScriptedResponse ServerError(int status = 503, int? retryAfterSeconds = null) => new(status, "server_error", retryAfterSeconds);

    public static ScriptedResponse TooManyRequests(int retryAfterSeconds) => new(429, "slow_down", retryAfterSeconds);

    public static ScriptedResponse OAuthError(string error, int status = 400) => new(status, error);

    public static ScriptedResponse Dropped() => new(0, Drop: true);
}
