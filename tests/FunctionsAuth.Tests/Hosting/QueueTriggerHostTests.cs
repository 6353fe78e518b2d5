using System.Collections.Concurrent;
using System.Text.Json;
using Azure.Storage.Queues;
using FunctionsAuth.LocalHost;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace FunctionsAuth.Tests.Hosting;

/// <summary>The local host's queue listener on Azurite's real queue service, with the Functions host's semantics.</summary>
public sealed class QueueTriggerHostTests
{
    [Fact]
    public async Task Message_BindsToItsJsonTypeAndIsDeletedAfterSuccess()
    {
        var (queue, probe, start) = await ArrangeAsync();
        await using var host = await start();

        await SendAsync(queue, new ProbeMessage("first", FailTimes: 0));

        await Eventually.TrueAsync(() => probe.Succeeded.ContainsKey("first"), "the message was processed");
        Assert.Equal(1, probe.Attempts["first"]);
        await Eventually.TrueAsync(async () => (await queue.GetPropertiesAsync()).Value.ApproximateMessagesCount == 0, "the message was deleted");
    }

    [Fact]
    public async Task FailingMessage_IsRetriedUntilItSucceeds()
    {
        var (queue, probe, start) = await ArrangeAsync();
        await using var host = await start();

        await SendAsync(queue, new ProbeMessage("flaky", FailTimes: 2));

        await Eventually.TrueAsync(() => probe.Succeeded.ContainsKey("flaky"), "the message succeeded on its third attempt");
        Assert.Equal(3, probe.Attempts["flaky"]);
        Assert.Equal(3, probe.Succeeded["flaky"]);
    }

    [Fact]
    public async Task MessageThatKeepsFailing_LandsInThePoisonQueueAndDoesNotBlockTheRest()
    {
        var (queue, probe, start) = await ArrangeAsync();
        await using var host = await start();

        await SendAsync(queue, new ProbeMessage("poison", FailTimes: int.MaxValue));
        await SendAsync(queue, new ProbeMessage("healthy", FailTimes: 0));

        var poison = (await Azurite.CreateQueueServiceClientAsync()).GetQueueClient(queue.Name + "-poison");
        await Eventually.TrueAsync(async () => await poison.ExistsAsync() && (await poison.PeekMessagesAsync(5)).Value.Length == 1, "the failing message reached the poison queue");
        var parked = (await poison.PeekMessagesAsync(5)).Value.Single();
        Assert.Equal("poison", parked.Body.ToObjectFromJson<ProbeMessage>(JsonSerializerOptions.Web)!.Id);
        Assert.Equal(MaxDequeueCount, probe.Attempts["poison"]);
        Assert.True(probe.Succeeded.ContainsKey("healthy"));
        await Eventually.TrueAsync(async () => (await queue.GetPropertiesAsync()).Value.ApproximateMessagesCount == 0, "the source queue is empty");
    }

    [Fact]
    public async Task HostStoppedMidMessage_AnotherHostTakesItAfterTheLease()
    {
        var (queue, probe, start) = await ArrangeAsync();
        var first = await start();
        await SendAsync(queue, new ProbeMessage("held", FailTimes: 0, HoldOnFirstAttempt: true));
        await Eventually.TrueAsync(() => probe.Attempts.ContainsKey("held"), "the first host took the message");

        // The first host goes away mid-message: its run is cancelled and it never completes the message.
        await first.DisposeAsync();
        Assert.False(probe.Succeeded.ContainsKey("held"));

        await using var second = await start();
        await Eventually.TrueAsync(() => probe.Succeeded.ContainsKey("held"), "the second host processed the message once its lease ran out");
        Assert.Equal(2, probe.Attempts["held"]);
    }

    [Fact]
    public void Catalog_ReadsTheQueueTriggerAndItsConnection()
    {
        var catalog = FunctionCatalog.FromTypes([typeof(ProbeFunction)]);

        var function = Assert.Single(catalog.Queues);
        Assert.Equal("Probe", function.Name);
        Assert.Equal("%ProbeQueue%", function.QueueName);
        Assert.Equal(typeof(ProbeMessage), function.Trigger.ParameterType);
        Assert.Null(function.Connection);
    }

    [Fact]
    public void QueueNames_SettingsResolved_TheAppsOwnQueuesFallBackToTheirDefaults_OthersMustBeSet()
    {
        var empty = new ConfigurationBuilder().Build();
        Assert.Equal("sessionevents", QueueTriggerHost.ResolveQueueName("%EventsQueueName%", empty));
        Assert.Equal("functionsauth-sweep-poison", QueueTriggerHost.ResolveQueueName("%SweepQueueName%-poison", empty));
        Assert.Throws<InvalidOperationException>(() => QueueTriggerHost.ResolveQueueName("%ProbeQueue%", empty));

        var configured = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["EventsQueueName"] = "mine" }).Build();
        Assert.Equal("mine-poison", QueueTriggerHost.ResolveQueueName("%EventsQueueName%-poison", configured));
    }

    [Fact]
    public void Settings_AreTheFunctionsHostDefaultsAndHostJsonOverridesThem()
    {
        var defaults = QueueHostSettings.From(new ConfigurationBuilder().Build());
        Assert.Equal((16, 8, 5L, TimeSpan.Zero, TimeSpan.FromMinutes(1)), (defaults.BatchSize, defaults.NewBatchThreshold, defaults.MaxDequeueCount, defaults.VisibilityTimeout, defaults.MaxPollingInterval));

        var configured = QueueHostSettings.From(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"{QueueHostSettings.Section}:batchSize"] = "4",
            [$"{QueueHostSettings.Section}:maxDequeueCount"] = "2",
            [$"{QueueHostSettings.Section}:visibilityTimeout"] = "00:00:30",
        }).Build());
        Assert.Equal((4, 2, 2L, TimeSpan.FromSeconds(30)), (configured.BatchSize, configured.NewBatchThreshold, configured.MaxDequeueCount, configured.VisibilityTimeout));

        Assert.Throws<InvalidOperationException>(() => QueueHostSettings.From(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"{QueueHostSettings.Section}:batchSize"] = "64",
        }).Build()));
    }

    private const int MaxDequeueCount = 3;

    private static async Task<(QueueClient Queue, Probe Probe, Func<Task<RunningHost>> Start)> ArrangeAsync()
    {
        var connectionString = await Azurite.GetConnectionStringAsync();
        var name = Azurite.UniqueName("probe");
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["AzureWebJobsStorage"] = connectionString,
            ["ProbeQueue"] = name,
            [$"{QueueHostSettings.Section}:maxDequeueCount"] = MaxDequeueCount.ToString(System.Globalization.CultureInfo.InvariantCulture),
            [$"{QueueHostSettings.Section}:maxPollingInterval"] = "00:00:00.500",
            ["LocalHost:Queues:MessageLease"] = "00:00:02",
        }).Build();
        var probe = new Probe();
        var catalog = FunctionCatalog.FromTypes([typeof(ProbeFunction)]);
        var queue = (await Azurite.CreateQueueServiceClientAsync()).GetQueueClient(name);
        await queue.CreateIfNotExistsAsync();

        async Task<RunningHost> StartAsync()
        {
            var services = new ServiceCollection().AddSingleton(probe).BuildServiceProvider();
            var host = new QueueTriggerHost(catalog, services.GetRequiredService<IServiceScopeFactory>(), configuration, TimeProvider.System, NullLogger<QueueTriggerHost>.Instance);
            await host.StartAsync(CancellationToken.None);
            return new RunningHost(host, services);
        }

        return (queue, probe, StartAsync);
    }

    private static Task SendAsync(QueueClient queue, ProbeMessage message) =>
        queue.SendMessageAsync(BinaryData.FromObjectAsJson(message, JsonSerializerOptions.Web));

    private sealed class RunningHost(QueueTriggerHost host, ServiceProvider services) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await host.StopAsync(CancellationToken.None);
            host.Dispose();
            await services.DisposeAsync();
        }
    }
}

public sealed record ProbeMessage(string Id, int FailTimes, bool HoldOnFirstAttempt = false);

public sealed class Probe
{
    public ConcurrentDictionary<string, int> Attempts { get; } = new();

    /// <summary>Message id → the attempt that succeeded.</summary>
    public ConcurrentDictionary<string, int> Succeeded { get; } = new();
}

public sealed class ProbeFunction(Probe probe)
{
    [Function("Probe")]
    public async Task Run([QueueTrigger("%ProbeQueue%")] ProbeMessage message, CancellationToken cancellationToken)
    {
        var attempt = probe.Attempts.AddOrUpdate(message.Id, 1, static (_, n) => n + 1);
        if (message.HoldOnFirstAttempt && attempt == 1)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }

        if (attempt <= message.FailTimes)
        {
            throw new InvalidOperationException($"Attempt {attempt} of {message.Id} fails on purpose.");
        }

        probe.Succeeded[message.Id] = attempt;
    }
}
