using System.Security.Cryptography;
using System.Text.Json;
using Azure.Storage.Queues.Models;
using FunctionsAuth.Configuration;
using FunctionsAuth.Events;
using FunctionsAuth.Functions;
using FunctionsAuth.Storage;
using FunctionsAuth.Tests.Hosting;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.Azure.Functions.Worker.Core.FunctionMetadata;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace FunctionsAuth.Tests.Events;

/// <summary>The EventWebhook function in the real isolated-worker container: its queue name as the Functions host gets it, and a delivery through the worker's own DI.</summary>
public sealed class EventWebhookWorkerTests
{
    [Fact]
    public async Task Metadata_QueueNameSettingUnset_HandsTheFunctionsHostTheQueueTheAppEnqueuesTo()
    {
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings.Remove(EventsOptions.QueueNameSetting);
        using var host = FunctionsApp.Build(WorkerHostTests.Args(environment.Settings));

        Assert.Equal(EventsOptions.DefaultQueueName, await QueueNameAsync(host));
        Assert.Equal(EventsOptions.DefaultQueueName, host.Services.GetRequiredService<EventsQueue>().Client.Name);
    }

    [Fact]
    public async Task Metadata_QueueNameSettingSet_LeavesItForTheFunctionsHostToResolve()
    {
        var environment = await TestEnvironment.CreateAsync();
        using var host = FunctionsApp.Build(WorkerHostTests.Args(environment.Settings));

        Assert.Equal($"%{EventsOptions.QueueNameSetting}%", await QueueNameAsync(host));
        Assert.Equal(environment.EventsQueueName, host.Services.GetRequiredService<EventsQueue>().Client.Name);
    }

    [Fact]
    public async Task Run_InTheWorkersContainer_PostsTheMessageSigned_AndThrowsWhenTheReceiverRefuses()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var secret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings["FunctionsAuth:Events:WebhookUrl"] = receiver.Url.AbsoluteUri;
        environment.Settings["FunctionsAuth:Secrets:events-webhook-secret"] = secret;
        using var host = FunctionsApp.Build(WorkerHostTests.Args(environment.Settings));
        var function = ActivatorUtilities.CreateInstance<EventWebhookFunction>(host.Services);
        var row = new SessionEntity { PartitionKey = new string('c', 64), Provider = "demo", Subject = "user-5", CreatedAt = DateTimeOffset.UnixEpoch };
        var body = SessionEventFormat.Encode(SessionEvent.For(SessionEventKinds.Revoked, row, DateTimeOffset.UnixEpoch.AddDays(1)), new Uri("/functionsauth", UriKind.Relative));

        await function.Run(QueuesModelFactory.QueueMessage("m1", "r1", body, dequeueCount: 1), CancellationToken.None);
        receiver.Answer(500, 1);
        var refused = await Assert.ThrowsAsync<WebhookDeliveryException>(() => function.Run(QueuesModelFactory.QueueMessage("m1", "r2", body, dequeueCount: 2), CancellationToken.None));

        Assert.Equal("http_500", refused.Failure);
        var deliveries = receiver.Deliveries.ToArray();
        Assert.Equal(2, deliveries.Length);
        Assert.Equal(body.ToArray(), deliveries[0].Body);
        Assert.True(ReadmeWebhookSnippet.IsFromFunctionsAuth(secret, deliveries[0].Header("webhook-id"), deliveries[0].Header("webhook-timestamp"), deliveries[0].Header("webhook-signature"), deliveries[0].Body));
    }

    [Fact]
    public async Task Run_NotAnEventFunctionsAuthWrote_Throws_SoItEndsInThePoisonQueue()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings["FunctionsAuth:Events:WebhookUrl"] = receiver.Url.AbsoluteUri;
        environment.Settings["FunctionsAuth:Secrets:events-webhook-secret"] = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));
        using var host = FunctionsApp.Build(WorkerHostTests.Args(environment.Settings));
        var function = ActivatorUtilities.CreateInstance<EventWebhookFunction>(host.Services);

        await Assert.ThrowsAnyAsync<ArgumentException>(() => function.Run(QueuesModelFactory.QueueMessage("m1", "r1", new BinaryData("""{"not":"a cloud event"}"""), dequeueCount: 1), CancellationToken.None));

        Assert.Empty(receiver.Deliveries);
    }

    private static async Task<string?> QueueNameAsync(IHost host)
    {
        var metadata = await host.Services.GetRequiredService<IFunctionMetadataManager>().GetFunctionMetadataAsync(AppContext.BaseDirectory);
        var webhook = Assert.Single(metadata, f => f.Name == "EventWebhook");
        using var binding = JsonDocument.Parse(Assert.Single(webhook.RawBindings!, b => b.Contains("queueTrigger", StringComparison.Ordinal)));
        return binding.RootElement.GetProperty("queueName").GetString();
    }
}
