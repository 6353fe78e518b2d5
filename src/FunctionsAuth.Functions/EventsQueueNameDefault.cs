using System.Text.Json.Nodes;
using FunctionsAuth.Configuration;
using Microsoft.Azure.Functions.Worker.Core.FunctionMetadata;
using Microsoft.Extensions.Configuration;

namespace FunctionsAuth.Functions;

/// <summary>
/// As <see cref="SweeperScheduleDefault"/> for the schedule: when the <c>EventsQueueName</c> app setting is unset, hands
/// the host the queue the app enqueues to by default, instead of an unresolvable <c>%EventsQueueName%</c>.
/// </summary>
internal sealed class EventsQueueNameDefault(IConfiguration configuration) : IFunctionMetadataTransformer
{
    private const string SettingExpression = "%" + EventsOptions.QueueNameSetting + "%";

    public string Name => nameof(EventsQueueNameDefault);

    public void Transform(IList<IFunctionMetadata> original)
    {
        if (configuration[EventsOptions.QueueNameSetting] is { Length: > 0 })
        {
            return;
        }

        foreach (var function in original)
        {
            if (function.RawBindings is not { IsReadOnly: false } bindings)
            {
                continue;
            }

            for (var i = 0; i < bindings.Count; i++)
            {
                if (JsonNode.Parse(bindings[i]) is JsonObject binding
                    && binding["type"] is JsonValue type && type.TryGetValue<string>(out var typeName)
                    && string.Equals(typeName, "queueTrigger", StringComparison.OrdinalIgnoreCase)
                    && binding["queueName"] is JsonValue queue && queue.TryGetValue<string>(out var queueName)
                    && queueName == SettingExpression)
                {
                    binding["queueName"] = EventsOptions.DefaultQueueName;
                    bindings[i] = binding.ToJsonString();
                }
            }
        }
    }
}
