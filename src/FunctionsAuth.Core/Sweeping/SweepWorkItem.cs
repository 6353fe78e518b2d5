using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization;
using Azure;
using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;

namespace FunctionsAuth.Sweeping;

/// <summary>
/// One queue message of a fanned-out run: due-index rows exactly as the planner read them (bucket, session key, ETag),
/// at most <see cref="Configuration.SweeperOptions.WorkItemSize"/>. A worker runs them through the same triage and
/// refresh stages as an in-process run, so a message delivered twice (or a row planned by two runs) costs a session read,
/// never a second refresh: the second look finds the row leased or no longer due. Holds no token and no handle: session
/// keys are SHA-256 hashes of handles, as in the tables.
/// </summary>
internal sealed record SweepWorkItem(DateTimeOffset PlannedAt, IReadOnlyList<DueIndexEntry> Rows)
{
    public const int Version = 1;

    /// <summary>Well under the 64 KiB a queue message may hold once base64-encoded (about 170 bytes a row).</summary>
    public const int MaxRows = 200;

    private const int MaxETagLength = 128;

    public string ToJson() => JsonSerializer.Serialize(
        new Message(Version, PlannedAt, [.. Rows.Select(r => new Row(r.Bucket, r.Key.Value, r.ETag.ToString()))]),
        SweepJsonContext.Default.Message);

    /// <summary>Reads a message; false (with a reason fit for a log: no content quoted) when it is not a work item of ours.</summary>
    public static bool TryParse(string text, [NotNullWhen(true)] out SweepWorkItem? item, [NotNullWhen(false)] out string? reason)
    {
        item = null;
        Message? message;
        try
        {
            message = JsonSerializer.Deserialize(text, SweepJsonContext.Default.Message);
        }
        catch (JsonException)
        {
            reason = "not_json";
            return false;
        }

        if (message is null || message.V != Version)
        {
            reason = "unknown_version";
            return false;
        }

        if (message.Rows is not { Count: > 0 and <= MaxRows } rows)
        {
            reason = "row_count";
            return false;
        }

        var entries = new List<DueIndexEntry>(rows.Count);
        foreach (var row in rows)
        {
            if (row?.B is not { Length: 12 } bucket || !bucket.All(char.IsAsciiDigit)
                || row.K is not { Length: 64 } key || !key.All(char.IsAsciiHexDigitLower)
                || row.E is not { Length: > 0 and <= MaxETagLength } etag)
            {
                reason = "bad_row";
                return false;
            }

            entries.Add(new DueIndexEntry(bucket, new SessionKey(key), new ETag(etag)));
        }

        item = new SweepWorkItem(message.PlannedAt, entries);
        reason = null;
        return true;
    }

    /// <summary>The wire shape: short names, since a message holds up to <see cref="MaxRows"/> of them.</summary>
    internal sealed record Message(
        [property: JsonPropertyName("v")] int V,
        [property: JsonPropertyName("planned_at")] DateTimeOffset PlannedAt,
        [property: JsonPropertyName("rows")] List<Row>? Rows);

    /// <summary>Bucket, session key, ETag of one due-index row.</summary>
    internal sealed record Row(
        [property: JsonPropertyName("b")] string? B,
        [property: JsonPropertyName("k")] string? K,
        [property: JsonPropertyName("e")] string? E);
}

[JsonSerializable(typeof(SweepWorkItem.Message))]
internal sealed partial class SweepJsonContext : JsonSerializerContext;
