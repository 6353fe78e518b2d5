using System.Net;
using System.Security.Cryptography;
using System.Text;
using FunctionsAuth.LocalHost;
using FunctionsAuth.Tests.Infrastructure;

namespace FunctionsAuth.Tests.Events;

/// <summary>
/// The EventWebhook function, served by the local host's queue listener on a real Azurite queue, POSTing to a loopback
/// receiver: Standard Webhooks signatures that the README's snippet verifies, the same id on every delivery of an
/// event, a retry after the visibility time-out when the receiver fails, and the poison queue after the last attempt.
/// </summary>
public sealed class EventWebhookTests : DemoProviderTestBase
{
    private const int MaxDequeueCount = 3;

    private readonly string secret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
    private WebhookReceiver receiver = null!;

    protected override async Task<TestEnvironment> CreateEnvironmentAsync()
    {
        receiver = await WebhookReceiver.StartAsync();
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings["FunctionsAuth:Events:WebhookUrl"] = receiver.Url.AbsoluteUri;
        environment.Settings["FunctionsAuth:Secrets:events-webhook-secret"] = secret;
        environment.Settings["AzureWebJobs.EventWebhook.Disabled"] = "false";
        environment.Settings[$"{QueueHostSettings.Section}:maxDequeueCount"] = MaxDequeueCount.ToString(System.Globalization.CultureInfo.InvariantCulture);
        environment.Settings[$"{QueueHostSettings.Section}:visibilityTimeout"] = "00:00:00.200";
        environment.Settings[$"{QueueHostSettings.Section}:maxPollingInterval"] = "00:00:00.500";
        return environment;
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await receiver.DisposeAsync();
    }

    [Fact]
    public async Task Delivery_SignedTheStandardWebhooksWay_TheReadmeSnippetVerifiesIt_AndNotATamperedBody()
    {
        var created = await Host.SignInWithSubjectAsync(Server, "alice", "user-42");

        await Expect.StatusAsync(await Host.RevokeAsync(created.Session), HttpStatusCode.NoContent);
        await Eventually.TrueAsync(() => !receiver.Deliveries.IsEmpty, "the webhook got the event");

        var delivery = Assert.Single(receiver.Deliveries);
        var cloudEvent = EventsTestSupport.Decode(new BinaryData(delivery.Body));
        Assert.Equal("functionsauth.session.revoked", cloudEvent.Type);
        Assert.Equal("user-42", cloudEvent.Subject);
        Assert.Equal(cloudEvent.Id, delivery.Header("webhook-id"));
        Assert.StartsWith("application/cloudevents+json", delivery.Header("content-type"));
        Assert.StartsWith("v1,", delivery.Header("webhook-signature"));
        Assert.True(Verify(delivery, delivery.Body));

        var tampered = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(delivery.Body).Replace("user-42", "user-43", StringComparison.Ordinal));
        Assert.NotEqual(delivery.Body, tampered);
        Assert.False(Verify(delivery, tampered));
        Assert.False(ReadmeWebhookSnippet.IsFromFunctionsAuth("whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)), delivery.Header("webhook-id"), delivery.Header("webhook-timestamp"), delivery.Header("webhook-signature"), delivery.Body));
        Assert.False(ReadmeWebhookSnippet.IsFromFunctionsAuth(secret, "another-id", delivery.Header("webhook-timestamp"), delivery.Header("webhook-signature"), delivery.Body));

        // Taken: the message is deleted once the receiver answered 2xx.
        await Eventually.TrueAsync(async () => (await QueueAsync("")).Count == 0, "the delivered event left the queue");
    }

    [Fact]
    public async Task ReceiverAnswers500_GetsTheSameEventAgainLater_WithTheSameId()
    {
        receiver.Answer(500, 1);
        var created = await Host.SignInAsync(Server, "bob");

        await Expect.StatusAsync(await Host.RevokeAsync(created.Session), HttpStatusCode.NoContent);
        await Eventually.TrueAsync(() => receiver.Deliveries.Any(d => d.AnsweredWith == 200), "the webhook took the event on a later attempt");

        var deliveries = receiver.Deliveries.ToArray();
        Assert.Equal([500, 200], deliveries.Select(d => d.AnsweredWith));
        Assert.Single(deliveries.Select(d => d.Header("webhook-id")).Distinct());
        Assert.Single(deliveries.Select(d => EventsTestSupport.Decode(new BinaryData(d.Body)).Id).Distinct());
        Assert.Equal(deliveries[0].Body, deliveries[1].Body);
        Assert.All(deliveries, d => Assert.True(Verify(d, d.Body)));
        await Eventually.TrueAsync(async () => (await QueueAsync("")).Count == 0, "the delivered event left the queue");
        Assert.Empty(await QueueAsync("-poison"));
    }

    [Fact]
    public async Task ReceiverKeepsFailing_AfterMaxDequeueCountAttempts_TheEventIsInThePoisonQueue()
    {
        receiver.Answer(500, 100);
        var created = await Host.SignInAsync(Server, "carol");

        await Expect.StatusAsync(await Host.RevokeAsync(created.Session), HttpStatusCode.NoContent);
        await Eventually.TrueAsync(async () => (await QueueAsync("-poison")).Count == 1, "the event reached the poison queue");

        Assert.Equal(MaxDequeueCount, receiver.Deliveries.Count);
        var poisoned = EventsTestSupport.Decode(Assert.Single(await QueueAsync("-poison")));
        Assert.Equal("functionsauth.session.revoked", poisoned.Type);
        Assert.Equal(receiver.Deliveries.First().Header("webhook-id"), poisoned.Id);
        Assert.Empty(await QueueAsync(""));
    }

    [Fact]
    public void Readme_ShowsTheVerificationSnippetTheseTestsUse()
    {
        var root = RepositoryRoot.Find();
        var source = File.ReadAllText(Path.Combine(root, "tests", "FunctionsAuth.Tests", "Events", "ReadmeWebhookSnippet.cs"));
        var snippet = Dedent(source[(source.IndexOf("// README:begin", StringComparison.Ordinal) + "// README:begin".Length)..source.IndexOf("// README:end", StringComparison.Ordinal)]);
        var readme = File.ReadAllText(Path.Combine(root, "README.md")).ReplaceLineEndings("\n");

        Assert.Contains(snippet, readme, StringComparison.Ordinal);
    }

    private bool Verify(WebhookReceiver.Delivery delivery, byte[] body) =>
        ReadmeWebhookSnippet.IsFromFunctionsAuth(secret, delivery.Header("webhook-id"), delivery.Header("webhook-timestamp"), delivery.Header("webhook-signature"), body);

    private async Task<IReadOnlyList<BinaryData>> QueueAsync(string suffix)
    {
        var queue = (await Azurite.CreateQueueServiceClientAsync()).GetQueueClient(Environment.EventsQueueName + suffix);
        return await queue.ExistsAsync() ? [.. (await queue.PeekMessagesAsync(32)).Value.Select(m => m.Body)] : [];
    }

    private static string Dedent(string text)
    {
        var lines = text.ReplaceLineEndings("\n").Trim('\n').Split('\n');
        var indent = lines.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        return string.Join('\n', lines.Select(l => l.Length >= indent ? l[indent..] : l.TrimStart()));
    }
}
