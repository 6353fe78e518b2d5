using Azure.Data.Tables;
using FunctionsAuth.Configuration;
using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Tests.Storage;

/// <summary>The due index against Azurite: the sweeper's range scan and its batched, conditional clean-up.</summary>
public sealed class DueIndexTests
{
    private static readonly DateTimeOffset Now = new(2030, 1, 2, 3, 4, 30, TimeSpan.Zero);

    [Fact]
    public async Task QueryDue_ReturnsRowsUpToTheCurrentMinuteOnlyWithTheirETags()
    {
        var (store, index) = await CreateAsync();
        var due = await AddAsync(index, Now - TimeSpan.FromHours(1), Now, Now + TimeSpan.FromSeconds(20));
        await AddAsync(index, Now + TimeSpan.FromMinutes(1), Now + TimeSpan.FromDays(1));

        var rows = await ReadDueAsync(store);

        Assert.Equal(due.Order(StringComparer.Ordinal), rows.Select(r => r.Key.Value).Order(StringComparer.Ordinal));
        Assert.All(rows, r => Assert.NotEqual(default, r.ETag));
    }

    [Fact]
    public async Task RemoveIndexRows_RowRewrittenOrGoneSinceRead_RewrittenStaysAndTheOthersGo()
    {
        var (store, index) = await CreateAsync();
        await AddAsync(index, Enumerable.Repeat(Now - TimeSpan.FromMinutes(5), 10).ToArray());
        var read = await ReadDueAsync(store);

        // After the scan: one row rewritten (a writer moved its session back into this bucket), one already removed.
        var rewritten = read[3];
        var gone = read[7];
        await index.UpsertEntityAsync(new TableEntity(rewritten.Bucket, rewritten.Key.Value));
        await index.DeleteEntityAsync(gone.Bucket, gone.Key.Value);

        var removed = await store.RemoveIndexRowsAsync(read, default);

        Assert.Equal(read.Except([rewritten, gone]).Select(r => r.Key.Value).Order(StringComparer.Ordinal), removed.Select(r => r.Key.Value).Order(StringComparer.Ordinal));
        var left = Assert.Single(await ReadDueAsync(store));
        Assert.Equal(rewritten.Key, left.Key);
    }

    private static async Task<(SessionStore Store, TableClient Index)> CreateAsync()
    {
        var service = await Azurite.CreateServiceClientAsync();
        var options = new FunctionsAuthOptions { Storage = { SessionsTable = Azurite.UniqueName("sessions"), DueIndexTable = Azurite.UniqueName("due") } };
        var store = new SessionStore(service, Options.Create(options), NullLogger<SessionStore>.Instance);
        await store.EnsureTablesAsync(default);
        return (store, service.GetTableClient(options.Storage.DueIndexTable));
    }

    private static async Task<List<string>> AddAsync(TableClient index, params DateTimeOffset[] dueTimes)
    {
        var keys = new List<string>();
        foreach (var dueAt in dueTimes)
        {
            var key = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
            await index.AddEntityAsync(new TableEntity(SessionStore.Bucket(dueAt), key));
            keys.Add(key);
        }

        return keys;
    }

    private static async Task<List<DueIndexEntry>> ReadDueAsync(SessionStore store)
    {
        var rows = new List<DueIndexEntry>();
        await foreach (var row in store.QueryDueAsync(Now, pageSize: 1000, default))
        {
            rows.Add(row);
        }

        return rows;
    }
}
