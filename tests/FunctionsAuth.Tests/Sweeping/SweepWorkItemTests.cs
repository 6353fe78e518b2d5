using Azure;
using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;
using FunctionsAuth.Sweeping;

namespace FunctionsAuth.Tests.Sweeping;

/// <summary>The work-item message: what the planner writes, the worker reads back; anything else is refused by reason, never quoted.</summary>
public sealed class SweepWorkItemTests
{
    private static readonly DateTimeOffset ThePlannedAt = new(2026, 12, 1, 9, 40, 0, TimeSpan.Zero);

    private static DueIndexEntry SomeRow(int i) => new(
        "202612010939",
        new SessionKey(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(i)))),
        new ETag($"W/\"datetime'2026-12-01T09%3A39%3A{i % 60:00}.1234567Z'\""));

    [Fact]
    public void RoundTrip_KeepsEveryRowWithItsETag()
    {
        var item = new SweepWorkItem(ThePlannedAt, [.. Enumerable.Range(0, SweepWorkItem.MaxRows).Select(SomeRow)]);

        var json = item.ToJson();

        Assert.True(SweepWorkItem.TryParse(json, out var read, out var reason), reason);
        Assert.Equal(ThePlannedAt, read.PlannedAt);
        Assert.Equal(item.Rows, read.Rows);

        // A full item stays far below a queue message's 64 KiB once base64-encoded.
        Assert.InRange(System.Text.Encoding.UTF8.GetByteCount(json) * 4 / 3, 1, 48 * 1024);
    }

    [Theory]
    [InlineData("not json at all", "not_json")]
    [InlineData("""{"v":2,"planned_at":"2026-12-01T09:40:00Z","rows":[]}""", "unknown_version")]
    [InlineData("""{"v":1,"planned_at":"2026-12-01T09:40:00Z","rows":[]}""", "row_count")]
    [InlineData("""{"v":1,"planned_at":"2026-12-01T09:40:00Z"}""", "row_count")]
    [InlineData("""{"v":1,"planned_at":"2026-12-01T09:40:00Z","rows":[{"b":"2026120109","k":"aa","e":"x"}]}""", "bad_row")]
    [InlineData("""{"v":1,"planned_at":"2026-12-01T09:40:00Z","rows":[{"b":"202612010939","k":"ZZ00000000000000000000000000000000000000000000000000000000000000","e":"x"}]}""", "bad_row")]
    [InlineData("""{"v":1,"planned_at":"2026-12-01T09:40:00Z","rows":[{"b":"202612010939","k":"0000000000000000000000000000000000000000000000000000000000000000","e":""}]}""", "bad_row")]
    [InlineData("""{"v":1,"planned_at":"2026-12-01T09:40:00Z","rows":[null]}""", "bad_row")]
    public void TryParse_NotAWorkItem_RefusedWithItsReason(string message, string expected)
    {
        Assert.False(SweepWorkItem.TryParse(message, out var item, out var reason));
        Assert.Null(item);
        Assert.Equal(expected, reason);
    }

    [Fact]
    public void TryParse_MoreRowsThanAnItemHolds_Refused()
    {
        var json = new SweepWorkItem(ThePlannedAt, [.. Enumerable.Range(0, SweepWorkItem.MaxRows + 1).Select(SomeRow)]).ToJson();

        Assert.False(SweepWorkItem.TryParse(json, out _, out var reason));
        Assert.Equal("row_count", reason);
    }
}
