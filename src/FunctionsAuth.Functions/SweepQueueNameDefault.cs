using System.Text.Json.Nodes;
using FunctionsAuth.Configuration;
using Microsoft.Azure.Functions.Worker.Core.FunctionMetadata;
using Microsoft.Extensions.Configuration;

namespace FunctionsAuth.Functions;

/// <summary>
/// As <see cref="SweeperScheduleDefault"/> for the schedule: the host refuses to index a queue trigger whose
/// <c>%SweepQueueName%</c> does not resolve, so when the app setting is unset the documented default goes into the
/// metadata instead (in the worker queue and its poison queue alike), and the planner, the workers and the local host
/// agree on one queue.
/// </summary>
internal sealed class SweepQueueNameDefault(IConfiguration configuration) : IFunctionMetadataTransformer
{
    private const string SettingExpression = "%" + SweeperOptions.QueueNameSetting + "%";

    public string Name => nameof(SweepQueueNameDefault);

    public void Transform(IList<IFunctionMetadata> original)
    {
        if (configuration[SweeperOptions.QueueNameSetting] is { Length: > 0 })
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
                    && string.Equals(StringOf(binding["type"]), "queueTrigger", StringComparison.OrdinalIgnoreCase)
                    && StringOf(binding["queueName"]) is { } queueName
                    && queueName.Contains(SettingExpression, StringComparison.Ordinal))
                {
                    binding["queueName"] = queueName.Replace(SettingExpression, SweeperOptions.DefaultQueueName, StringComparison.Ordinal);
                    bindings[i] = binding.ToJsonString();
                }
            }
        }
    }

    private static string? StringOf(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;
}
