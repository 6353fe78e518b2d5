using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FunctionsAuth.Tests.Events;

/// <summary>A webhook receiver on loopback: records every delivery (headers and exact body bytes) and answers with the next scripted status (200 once the script is empty).</summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly ConcurrentQueue<int> script = new();

    private WebhookReceiver(WebApplication app, Uri url)
    {
        this.app = app;
        Url = url;
    }

    public Uri Url { get; }

    public ConcurrentQueue<Delivery> Deliveries { get; } = new();

    public static async Task<WebhookReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        WebhookReceiver? self = null;
        app.MapPost("/hooks/functionsauth", async context =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            var status = self!.script.TryDequeue(out var next) ? next : 200;
            self.Deliveries.Enqueue(new Delivery(
                context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString()),
                body.ToArray(),
                status));
            context.Response.StatusCode = status;
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        self = new WebhookReceiver(app, new Uri(address + "/hooks/functionsauth"));
        return self;
    }

    /// <summary>The next <paramref name="count"/> deliveries are answered with <paramref name="status"/>.</summary>
    public void Answer(int status, int count)
    {
        for (var i = 0; i < count; i++)
        {
            script.Enqueue(status);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }

    public sealed record Delivery(IReadOnlyDictionary<string, string> Headers, byte[] Body, int AnsweredWith)
    {
        public string Header(string name) => Headers.TryGetValue(name, out var value) ? value : "";
    }
}
