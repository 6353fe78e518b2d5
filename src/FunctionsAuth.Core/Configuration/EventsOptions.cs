using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace FunctionsAuth.Configuration;

/// <summary>
/// <c>FunctionsAuth:Events</c>: where session events go. Always onto the Storage queue <see cref="QueueName"/>; when
/// <see cref="WebhookUrl"/> is set, the <c>EventWebhook</c> function also POSTs each one there, signed.
/// </summary>
public sealed class EventsOptions
{
    /// <summary>App setting naming the queue (flat, like <c>SweeperSchedule</c>: the Functions host resolves the trigger's <c>%EventsQueueName%</c> itself).</summary>
    public const string QueueNameSetting = "EventsQueueName";

    public const string DefaultQueueName = "sessionevents";

    /// <summary>The Functions host's switch for the webhook function (the local host honours it too). Set it when no webhook is configured: the function would otherwise take the events off the queue.</summary>
    public const string WebhookDisabledSetting = "AzureWebJobs.EventWebhook.Disabled";

    /// <summary>Copied from the <see cref="QueueNameSetting"/> app setting (<see cref="DefaultQueueName"/> when unset). Its poison queue is <c>&lt;name&gt;-poison</c>, hence at most 56 characters.</summary>
    [RegularExpression("^(?=.{3,56}$)[a-z0-9]+(-[a-z0-9]+)*$", ErrorMessage = "{0} must be 3 to 56 lower-case letters, digits and single hyphens (a Storage queue name that leaves room for '-poison').")]
    public string QueueName { get; set; } = DefaultQueueName;

    /// <summary>The CloudEvents <c>source</c> of every event (a URI reference naming this deployment).</summary>
    public string Source { get; set; } = "/functionsauth";

    /// <summary>Events held in memory while the queue is slow or away; beyond that, new ones are dropped (logged and counted).</summary>
    [Range(1, 1_000_000)]
    public int BufferCapacity { get; set; } = 10_000;

    /// <summary>Optional webhook every event is POSTed to (https; plain http only on loopback).</summary>
    public Uri? WebhookUrl { get; set; }

    /// <summary>Name of the secret (Key Vault in Azure, <c>FunctionsAuth:Secrets</c> locally) holding the webhook signing secret: <c>whsec_</c> + base64 of 24 to 64 random bytes (the Standard Webhooks format).</summary>
    public string WebhookSecretName { get; set; } = "events-webhook-secret";

    /// <summary>Time-out of one webhook POST; a slower receiver counts as a failure and gets the event again later.</summary>
    public TimeSpan WebhookTimeout { get; set; } = TimeSpan.FromSeconds(10);

    public static string ResolveQueueName(IConfiguration configuration) =>
        configuration[QueueNameSetting] is { Length: > 0 } name ? name : DefaultQueueName;
}
