using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FunctionsAuth.Tests.Infrastructure;

/// <summary>
/// A provider whose every endpoint (discovery, token, revocation) answers <c>307 Temporary Redirect</c> to the same path
/// on a second loopback server, the target. The target answers as a working provider would (a discovery document
/// naming the redirecting issuer and the target's own token endpoint; tokens for any grant) and records every request
/// that reaches it, so a test sees whether a client followed the redirect and what it re-sent.
/// </summary>
public sealed class RedirectingProvider : IAsyncDisposable
{
    private readonly WebApplication redirector;
    private readonly WebApplication target;
    private readonly ConcurrentQueue<RecordedRequest> arrivedAtTarget = new();

    private RedirectingProvider(WebApplication redirector, WebApplication target, Uri address, Uri targetAddress)
    {
        this.redirector = redirector;
        this.target = target;
        Issuer = address;
        TargetAddress = targetAddress;
    }

    /// <summary>The redirecting server's base address (an issuer for discovery).</summary>
    public Uri Issuer { get; }

    public Uri TokenEndpoint => new(Issuer, "token");

    public Uri RevocationEndpoint => new(Issuer, "revoke");

    public Uri TargetAddress { get; }

    /// <summary>Every request the redirect target received, in order.</summary>
    public IReadOnlyCollection<RecordedRequest> ArrivedAtTarget => arrivedAtTarget;

    public static async Task<RedirectingProvider> StartAsync(HttpStatusCode redirect = HttpStatusCode.TemporaryRedirect)
    {
        RedirectingProvider? self = null;

        var target = Loopback();
        target.Map("/{**path}", async context =>
        {
            var form = context.Request.HasFormContentType ? await context.Request.ReadFormAsync() : null;
            self!.arrivedAtTarget.Enqueue(new RecordedRequest(
                context.Request.Path.Value ?? "",
                form?.ToDictionary(f => f.Key, f => f.Value.ToString(), StringComparer.Ordinal) ?? []));
            if (context.Request.Path.StartsWithSegments("/.well-known/openid-configuration"))
            {
                await context.Response.WriteAsJsonAsync(new Dictionary<string, string>
                {
                    ["issuer"] = self.Issuer.AbsoluteUri.TrimEnd('/'),
                    ["token_endpoint"] = new Uri(self.TargetAddress, "token").AbsoluteUri,
                    ["revocation_endpoint"] = new Uri(self.TargetAddress, "revoke").AbsoluteUri,
                });
                return;
            }

            await context.Response.WriteAsJsonAsync(new Dictionary<string, object>
            {
                ["access_token"] = "redirect-target-access",
                ["token_type"] = "Bearer",
                ["expires_in"] = 3600,
                ["refresh_token"] = "redirect-target-refresh",
            });
        });

        var redirector = Loopback();
        redirector.Map("/{**path}", context =>
        {
            context.Response.StatusCode = (int)redirect;
            context.Response.Headers.Location = new Uri(self!.TargetAddress, (context.Request.Path.Value ?? "/").TrimStart('/')).AbsoluteUri;
            return Task.CompletedTask;
        });

        await target.StartAsync();
        await redirector.StartAsync();
        self = new RedirectingProvider(redirector, target, AddressOf(redirector), AddressOf(target));
        return self;
    }

    public async ValueTask DisposeAsync()
    {
        await redirector.DisposeAsync();
        await target.DisposeAsync();
    }

    private static WebApplication Loopback()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        return builder.Build();
    }

    private static Uri AddressOf(WebApplication app) =>
        new(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First() + "/");
}

/// <summary>A request as the redirect target saw it: path and form fields (empty for a GET).</summary>
public sealed record RecordedRequest(string Path, IReadOnlyDictionary<string, string> Form);
