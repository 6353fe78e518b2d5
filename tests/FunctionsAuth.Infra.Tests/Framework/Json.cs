using System.Text.Json;

namespace FunctionsAuth.Infra.Tests.Framework;

internal static class Json
{
    /// <summary>The element at a dotted path (<c>properties.siteConfig.minTlsVersion</c>), or null when any step is missing.</summary>
    public static JsonElement? At(this JsonElement element, string path)
    {
        var current = element;
        foreach (var step in path.Split('.'))
        {
            if (current.ValueKind != JsonValueKind.Object || !current.TryGetProperty(step, out current))
            {
                return null;
            }
        }

        return current;
    }

    public static string? String(this JsonElement element, string path) =>
        element.At(path) is { ValueKind: JsonValueKind.String } value ? value.GetString() : null;

    public static bool? Bool(this JsonElement element, string path) => element.At(path)?.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };

    public static IReadOnlyList<string?> Strings(this JsonElement element, string path) =>
        element.At(path) is { ValueKind: JsonValueKind.Array } array
            ? array.EnumerateArray().Select(item => item.ValueKind == JsonValueKind.String ? item.GetString() : item.GetRawText()).ToList()
            : [];

    /// <summary>Every string in the document, property names included.</summary>
    public static IEnumerable<string> AllStrings(this JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                yield return element.GetString()!;
                break;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    yield return property.Name;
                    foreach (var nested in property.Value.AllStrings())
                    {
                        yield return nested;
                    }
                }

                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    foreach (var nested in item.AllStrings())
                    {
                        yield return nested;
                    }
                }

                break;
        }
    }
}
