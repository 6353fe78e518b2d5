using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.SystemTextJson;
using FunctionsAuth.DemoProvider;
using FunctionsAuth.Events;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsAuth.Tests.Events;

/// <summary>Reads what a host put on its environment's events queue, decoded by the CloudEvents SDK (which rejects an event that breaks the spec).</summary>
internal static class EventsTestSupport
{
    private static readonly JsonEventFormatter Formatter = new();

    /// <summary>Every event on the queue, once the host's publisher has sent (or given up on) all it was handed.</summary>
    public static async Task<IReadOnlyList<CloudEvent>> QueuedEventsAsync(this TestHost host, TestEnvironment environment)
    {
        await host.Services.GetRequiredService<SessionEventPublisher>().WhenIdleAsync(CancellationToken.None);
        var queue = (await Azurite.CreateQueueServiceClientAsync()).GetQueueClient(environment.EventsQueueName);
        if (!await queue.ExistsAsync())
        {
            return [];
        }

        // Peek: the test reads without taking; 32 is the most one call returns, more than any test emits.
        var messages = (await queue.PeekMessagesAsync(32)).Value;
        return [.. messages.Select(m => Decode(m.Body))];
    }

    public static CloudEvent Decode(BinaryData body) =>
        Formatter.DecodeStructuredModeMessage(body.ToMemory(), new System.Net.Mime.ContentType("application/cloudevents+json"), extensionAttributes: null);

    public static JsonElement DataOf(CloudEvent cloudEvent) => Assert.IsType<JsonElement>(cloudEvent.Data);

    /// <summary>Signs <paramref name="user"/> in at the demo server and registers the session with <paramref name="subject"/>.</summary>
    public static async Task<SessionCreated> SignInWithSubjectAsync(this TestHost host, DemoOAuthServer server, string user, string subject)
    {
        var code = await server.AuthorizeAsync(TestEnvironment.DemoClient.ClientId, TestEnvironment.DemoRedirectUri, "openid offline_access api", user);
        using var response = await host.Client.PostAsJsonAsync("api/auth/sessions", new Dictionary<string, string>
        {
            ["provider"] = TestEnvironment.DemoProvider,
            ["code"] = code.Code,
            ["code_verifier"] = code.CodeVerifier,
            ["redirect_uri"] = code.RedirectUri.AbsoluteUri,
            ["subject"] = subject,
        });
        await Expect.StatusAsync(response, HttpStatusCode.Created);
        return (await response.Content.ReadFromJsonAsync<SessionCreated>())!;
    }
}
