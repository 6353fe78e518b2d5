using System.Security.Cryptography;
using Azure;
using Azure.Data.Tables;

namespace FunctionsAuth.Benchmarks;

/// <summary>
/// The storage a refresh has on its critical path, sent straight through the Azure SDK with no FunctionsAuth and no
/// provider: a point read, a merge of two lease fields with <c>If-Match</c>, a replace of the whole ~2 KB row with
/// <c>If-Match</c>; each caller on a row (and partition) of its own. What the storage server costs for that sequence
/// at a given concurrency: the floor under FunctionsAuth's storage time.
/// </summary>
internal sealed class StorageFloor(TableClient table)
{
    private const string Partition = "floor-";

    public static async Task<StorageFloor> CreateAsync(TableServiceClient service, string tableName, int rows)
    {
        var table = service.GetTableClient(tableName);
        await table.CreateIfNotExistsAsync();
        for (var i = 0; i < rows; i++)
        {
            await table.UpsertEntityAsync(Row(i), TableUpdateMode.Replace);
        }

        return new StorageFloor(table);
    }

    /// <summary>The three requests on row <paramref name="row"/>, one after the other.</summary>
    public async Task RefreshSequenceAsync(int row)
    {
        var key = Partition + row;
        var read = await table.GetEntityAsync<TableEntity>(key, key);
        var lease = new TableEntity(key, key)
        {
            ["LeaseId"] = Guid.NewGuid().ToString("N"),
            ["LeaseExpiresAt"] = DateTimeOffset.UtcNow.AddSeconds(45),
        };
        var claimed = await table.UpdateEntityAsync(lease, read.Value.ETag, TableUpdateMode.Merge);
        var rotated = Row(row);
        rotated["Generation"] = read.Value.GetInt32("Generation").GetValueOrDefault() + 1;
        await table.UpdateEntityAsync(rotated, claimed.Headers.ETag ?? ETag.All, TableUpdateMode.Replace);
    }

    /// <summary>A row shaped like a session's: two token ciphertexts (~1 KB of base64 between them; ~2 KB of JSON in all) and a dozen small fields.</summary>
    private static TableEntity Row(int row)
    {
        var key = Partition + row;
        var now = DateTimeOffset.UtcNow;
        return new TableEntity(key, key)
        {
            ["Provider"] = "fake",
            ["Owner"] = "bench",
            ["Status"] = "active",
            ["StatusChangedAt"] = now,
            ["AccessToken"] = RandomNumberGenerator.GetBytes(600),
            ["RefreshToken"] = RandomNumberGenerator.GetBytes(200),
            ["TokenType"] = "Bearer",
            ["Scope"] = "openid offline_access",
            ["AccessTokenIssuedAt"] = now,
            ["AccessTokenExpiresAt"] = now.AddHours(1),
            ["KeyId"] = "k1",
            ["TokenFormat"] = 2,
            ["Generation"] = 1,
            ["CreatedAt"] = now,
            ["LastUsedAt"] = now,
            ["LastRefreshedAt"] = now,
            ["DueAt"] = now.AddMinutes(50),
            ["FailureCount"] = 0,
        };
    }
}
