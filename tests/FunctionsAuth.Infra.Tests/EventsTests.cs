using FunctionsAuth.Configuration;
using FunctionsAuth.Infra.Tests.Framework;
using Xunit;

namespace FunctionsAuth.Infra.Tests;

/// <summary>Session events: the queue and its poison queue exist, the app may use only those two, and the webhook is named (never its secret) and switched with the function.</summary>
[Collection(InfraCollection.Name)]
public sealed class EventsTests(InfraFixture infra)
{
    private const string StorageQueueDataContributor = "974c5e8b-45b9-4653-ba55-5f855dd0fb88";

    [Fact]
    public void Queues_TheEventsQueueAndItsPoisonQueueAreCreated()
    {
        var queues = infra.Example.OfType("Microsoft.Storage/storageAccounts/queueServices/queues").Select(q => q.GetProperty("name").GetString()!.Split('/')[^1]).Order();

        Assert.Superset(new HashSet<string> { EventsOptions.DefaultQueueName, EventsOptions.DefaultQueueName + "-poison" }, queues.ToHashSet());
    }

    [Fact]
    public void QueueRole_IsScopedToEachEventsQueue_NeverToTheAccountOrQueueService()
    {
        var queueIds = infra.Example.OfType("Microsoft.Storage/storageAccounts/queueServices/queues").Select(Deployment.IdOf).Order().ToArray();
        var queueRoles = infra.Example.RoleAssignments.Where(a => a.RoleDefinitionId == StorageQueueDataContributor).ToList();

        Assert.Equal(queueIds, queueRoles.Select(a => a.Scope).Order());
        Assert.All(queueRoles, a => Assert.Contains("/queueServices/default/queues/", a.Scope, StringComparison.Ordinal));

        // No other queue role anywhere (Reader, Sender, Processor at a wider scope would widen it again).
        string[] queueRoleIds = ["19e7f393-937e-4f77-808e-94535e297925", "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a", "8a0f0c08-91a1-4084-bc3d-661d67233fed"];
        Assert.DoesNotContain(infra.Example.RoleAssignments, a => queueRoleIds.Contains(a.RoleDefinitionId));
    }

    [Fact]
    public void AppSettings_PointTheAppAndTheTriggerAtTheQueueEndpointByIdentity()
    {
        var settings = infra.Example.AppSettings;

        Assert.Equal(EventsOptions.DefaultQueueName, settings[EventsOptions.QueueNameSetting]);
        Assert.Contains("primaryEndpoints.queue", settings["FunctionsAuth__Storage__QueueServiceUri"], StringComparison.Ordinal);
        Assert.Equal(settings["FunctionsAuth__Storage__QueueServiceUri"], settings["AzureWebJobsStorage__queueServiceUri"]);
        Assert.Equal("managedidentity", settings["AzureWebJobsStorage__credential"]);
    }

    [Fact]
    public void WithoutAWebhook_TheFunctionIsDisabledSoTheQueueIsLeftToTheApp()
    {
        var settings = infra.Example.AppSettings;

        Assert.Equal("true", settings[EventsOptions.WebhookDisabledSetting]);
        Assert.DoesNotContain("FunctionsAuth__Events__WebhookUrl", settings.Keys);
    }

    [Fact]
    public void WithAWebhook_TheFunctionIsOnAndTheSecretIsNamedNotGiven()
    {
        var settings = infra.WithOptionalFeatures.AppSettings;

        Assert.Equal("false", settings[EventsOptions.WebhookDisabledSetting]);
        Assert.Equal(InfraFixture.Optional.EventsWebhookUrl, settings["FunctionsAuth__Events__WebhookUrl"]);
        Assert.Equal("events-webhook-secret", settings["FunctionsAuth__Events__WebhookSecretName"]);
        Assert.NotNull(RequiredSettings.Bind("FunctionsAuth__Events__WebhookUrl"));
        Assert.NotNull(RequiredSettings.Bind("FunctionsAuth__Events__WebhookSecretName"));
        Assert.DoesNotContain(settings.Values, v => v.Contains("whsec_", StringComparison.Ordinal));
    }
}
