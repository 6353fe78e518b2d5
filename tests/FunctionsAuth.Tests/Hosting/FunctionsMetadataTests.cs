using System.Text.Json;
using FunctionsAuth.Configuration;

namespace FunctionsAuth.Tests.Hosting;

/// <summary>The worker SDK's generated functions.metadata is what the Functions host indexes: check it says what the contract says.</summary>
public sealed class FunctionsMetadataTests
{
    private static readonly JsonElement[] Functions = Load();

    [Theory]
    [InlineData("CreateSession", "auth/sessions", "post", "Function")]
    [InlineData("Refresh", "auth/refresh", "post", "Function")]
    [InlineData("Revoke", "auth/revoke", "post", "Function")]
    [InlineData("Health", "health", "get", "Anonymous")]
    public void HttpFunction_DeclaresRouteMethodAndAuthLevel(string name, string route, string method, string authLevel)
    {
        var trigger = Trigger(name, "httpTrigger");

        Assert.Equal(route, trigger.GetProperty("route").GetString());
        Assert.Equal([method], trigger.GetProperty("methods").EnumerateArray().Select(m => m.GetString()));
        Assert.Equal(authLevel, trigger.GetProperty("authLevel").GetString());
    }

    [Fact]
    public void Sweeper_IsATimerOnTheScheduleAppSetting()
    {
        var trigger = Trigger("Sweeper", "timerTrigger");

        Assert.Equal($"%{SweeperOptions.ScheduleSetting}%", trigger.GetProperty("schedule").GetString());
    }

    [Theory]
    [InlineData("SweepWorker", "%" + SweeperOptions.QueueNameSetting + "%")]
    [InlineData("SweepPoison", "%" + SweeperOptions.QueueNameSetting + "%-poison")]
    public void SweepQueueFunctions_AreQueueTriggersOnTheHostsStorageAndTheQueueNameSetting(string name, string queueName)
    {
        var trigger = Trigger(name, "queueTrigger");

        Assert.Equal(queueName, trigger.GetProperty("queueName").GetString());

        // No connection of its own: AzureWebJobsStorage, the one the planner enqueues through.
        Assert.False(trigger.TryGetProperty("connection", out _));
        Assert.Equal("String", trigger.GetProperty("dataType").GetString());
    }

    [Fact]
    public void HostJson_QueueSettings_OneItemAtATimeWithRetriesAndAPromptPoll()
    {
        using var hostJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "host.json")));
        var queues = hostJson.RootElement.GetProperty("extensions").GetProperty("queues");

        Assert.Equal(1, queues.GetProperty("batchSize").GetInt32());
        Assert.Equal(1, queues.GetProperty("newBatchThreshold").GetInt32());
        Assert.Equal(5, queues.GetProperty("maxDequeueCount").GetInt32());
        Assert.Equal("00:00:30", queues.GetProperty("visibilityTimeout").GetString());
        Assert.Equal("00:00:02", queues.GetProperty("maxPollingInterval").GetString());
        Assert.Equal("base64", queues.GetProperty("messageEncoding").GetString());
    }

    [Fact]
    public void EventWebhook_IsAQueueTriggerOnTheEventsQueueSetting()
    {
        var trigger = Trigger("EventWebhook", "queueTrigger");

        Assert.Equal($"%{EventsOptions.QueueNameSetting}%", trigger.GetProperty("queueName").GetString());
        Assert.False(trigger.TryGetProperty("connection", out var connection) && connection.GetString() is { Length: > 0 }, "the trigger uses AzureWebJobsStorage, as the app's identity-based host storage");
    }

    [Fact]
    public void Metadata_DeclaresExactlyTheContractsFunctions()
    {
        Assert.Equal(
            ["CreateSession", "EventWebhook", "Health", "Refresh", "Revoke", "SweepPoison", "SweepWorker", "Sweeper"],
            Functions.Select(f => f.GetProperty("name").GetString()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void HostJson_KeepsTheApiRoutePrefix()
    {
        using var hostJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "host.json")));

        Assert.Equal("2.0", hostJson.RootElement.GetProperty("version").GetString());
        Assert.Equal("api", hostJson.RootElement.GetProperty("extensions").GetProperty("http").GetProperty("routePrefix").GetString());
    }

    private static JsonElement Trigger(string function, string type) =>
        Assert.Single(
            Assert.Single(Functions, f => f.GetProperty("name").GetString() == function).GetProperty("bindings").EnumerateArray(),
            b => b.GetProperty("type").GetString() == type);

    private static JsonElement[] Load()
    {
        // Built by the Functions worker SDK into the app's output and copied next to the tests with it.
        var path = Path.Combine(AppContext.BaseDirectory, "functions.metadata");
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        return document.RootElement.EnumerateArray().Select(e => e.Clone()).ToArray();
    }
}
