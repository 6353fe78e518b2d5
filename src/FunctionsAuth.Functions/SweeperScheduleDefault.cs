using System.Collections.Immutable;
using System.Text.Json.Nodes;
using FunctionsAuth.Configuration;
using Microsoft.Azure.Functions.Worker.Core.FunctionMetadata;
using Microsoft.Extensions.Configuration;

namespace FunctionsAuth.Functions;

/// <summary>
/// The Functions host resolves the sweeper's <c>%SweeperSchedule%</c> itself and refuses to index the timer when the
/// app setting is unset. When it is unset, this hands the host the documented default instead (the schedule options
/// validation checked), so an unset setting means the same thing here, in the local host and in the README.
/// </summary>
internal sealed class SweeperScheduleDefault(IConfiguration configuration) : IFunctionMetadataTransformer
{
    private const string SettingExpression = "%" + SweeperOptions.ScheduleSetting + "%";

    public string Name => nameof(SweeperScheduleDefault);

    public void Transform(IList<IFunctionMetadata> original)
    {
        if (configuration[SweeperOptions.ScheduleSetting] is { Length: > 0 })
        {
            // Set: the host resolves the expression itself, to the value options validation checked.
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
                if (JsonNode.Parse(bindings[i]) is JsonObject binding
                    && string.Equals(StringOf(binding["type"]), "timerTrigger", StringComparison.OrdinalIgnoreCase)
                    && StringOf(binding["schedule"]) == SettingExpression)
                {
                    binding["schedule"] = SweeperOptions.DefaultSchedule;
                    bindings[i] = binding.ToJsonString();
                }
            }
        }
    }

    // A binding property that is not a string is none of ours; reading it as one would throw and fail all metadata.
    private static string? StringOf(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;
}
