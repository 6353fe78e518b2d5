using System.Text.Json.Nodes;
using FunctionsAuth.Configuration;
using Microsoft.Azure.Functions.Worker.Core.FunctionMetadata;
using Microsoft.Extensions.Configuration;

namespace FunctionsAuth.Functions;

/// <summary>
/// The Functions host resolves <c>%Setting%</c> expressions in trigger bindings itself and refuses to index a function
/// whose setting is unset. For the app's own settings with a documented default (the sweeper's schedule, the sweep and
/// events queue names), this hands the host that default instead when the setting is unset, so an unset setting means
/// the same thing here, in the local host and in the README. A set one is left for the host to resolve, to the value
/// options validation checked.
/// </summary>
internal sealed class SettingDefaults(IConfiguration configuration) : IFunctionMetadataTransformer
{
    /// <summary>Trigger type, the binding property holding the expression, the setting, and its default.</summary>
    private static readonly (string Trigger, string Property, string Setting, string Default)[] Defaults =
    [
        ("timerTrigger", "schedule", SweeperOptions.ScheduleSetting, SweeperOptions.DefaultSchedule),
        ("queueTrigger", "queueName", SweeperOptions.QueueNameSetting, SweeperOptions.DefaultQueueName),
        ("queueTrigger", "queueName", EventsOptions.QueueNameSetting, EventsOptions.DefaultQueueName),
    ];

    public string Name => nameof(SettingDefaults);

    public void Transform(IList<IFunctionMetadata> original)
    {
        var unset = Defaults.Where(d => configuration[d.Setting] is not { Length: > 0 }).ToArray();
        if (unset.Length == 0)
        {
            return;
        }

        foreach (var function in original)
        {
            // A read-only list cannot take the default; the host then reports the unresolved setting, as it would without this.
            if (function.RawBindings is not { IsReadOnly: false } bindings)
            {
                continue;
            }

            for (var i = 0; i < bindings.Count; i++)
            {
                if (JsonNode.Parse(bindings[i]) is not JsonObject binding || StringOf(binding["type"]) is not { } type)
                {
                    continue;
                }

                var changed = false;
                foreach (var (trigger, property, setting, value) in unset)
                {
                    // Replaced where it stands, so "%SweepQueueName%-poison" becomes the default poison queue too.
                    var expression = "%" + setting + "%";
                    if (string.Equals(type, trigger, StringComparison.OrdinalIgnoreCase)
                        && StringOf(binding[property]) is { } text
                        && text.Contains(expression, StringComparison.Ordinal))
                    {
                        binding[property] = text.Replace(expression, value, StringComparison.Ordinal);
                        changed = true;
                    }
                }

                if (changed)
                {
                    bindings[i] = binding.ToJsonString();
                }
            }
        }
    }

    private static string? StringOf(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;
}
