using System.Security.Cryptography;
using System.Text;
using Azure.Data.Tables;
using FunctionsAuth.Protection;
using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;
using FunctionsAuth.Sweeping;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsAuth.Tests.Protection;

/// <summary>
/// Key rotation reaches every row: rows the due index does not hold (<c>failing</c> ones) and rows written in the
/// previous ciphertext format, which still read until they are rewritten. Real host, demo provider, Azurite.
/// </summary>
public sealed class ReEncryptionScanTests : DemoProviderTestBase
{
    [Fact]
    public async Task Sweep_AfterRotation_RewritesFailingRowsWithoutIndexSlot_AndFormat1Rows_InTheNewKey_WithoutARefresh()
    {
        var active = await Host.SignInAsync(Server, "active");
        var failing = await Host.SignInAsync(Server, "failing");
        var legacy = await Host.SignInAsync(Server, "legacy");
        var table = await Environment.SessionsTableAsync();
        var tokensBefore = new Dictionary<string, string>();
        foreach (var session in new[] { active, failing, legacy })
        {
            tokensBefore[session.Session] = await StoredRefreshTokenAsync(session.Session);
        }

        var purgeBucket = await MarkFailingAsync(table, await Environment.DueIndexTableAsync(), failing.Session);
        await RewriteInFormat1Async(table, legacy, tokensBefore[legacy.Session]);

        // Format 1 still reads: the stored access token is served as it was.
        Assert.Equal(legacy.AccessToken, (await Expect.TokenAsync(await Host.RefreshAsync(legacy.Session))).AccessToken);

        // Rotation: a new key first, the old one still in the ring.
        Environment.Settings["FunctionsAuth:Secrets:token-encryption-key"] = $"{Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))},{Environment.EncryptionKey}";
        await using var rotated = await Environment.StartHostAsync();
        var newKeyId = await rotated.Services.GetRequiredService<TokenProtector>().GetCurrentKeyIdAsync(default);

        var summary = await rotated.Services.GetRequiredService<Sweeper>().SweepAsync(CancellationToken.None);

        Assert.Equal((3, 0, 0), (summary.ReEncrypted, summary.Refreshed, summary.Errors));
        Assert.Equal(0, Server.Statistics.RefreshRequests);
        var store = rotated.Services.GetRequiredService<SessionStore>();
        var crypto = rotated.Services.GetRequiredService<SessionCrypto>();
        foreach (var session in new[] { active, failing, legacy })
        {
            var row = (await store.GetAsync(KeyOf(session.Session), default))!;
            Assert.Equal((newKeyId, (int?)2), (row.KeyId, row.TokenFormat));
            Assert.Equal((newKeyId, 2), (TokenProtector.ReadKeyId(row.RefreshToken), TokenProtector.ReadFormat(row.RefreshToken)));
            Assert.Equal(tokensBefore[session.Session], await crypto.ReadRefreshTokenAsync(row, default));
            Assert.Equal(session.AccessToken, await crypto.ReadAccessTokenAsync(row, default));
        }

        Assert.Equal(SessionStatus.Failing, (await store.GetAsync(KeyOf(failing.Session), default))!.Status);
        var failingIndexRows = await (await Environment.DueIndexTableAsync()).QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"RowKey eq {KeyOf(failing.Session).Value}")).ToListAsync();
        Assert.Equal(purgeBucket, Assert.Single(failingIndexRows).PartitionKey);

        // The old key can go now: nothing is under it any more.
        Environment.Settings["FunctionsAuth:Secrets:token-encryption-key"] = Environment.Settings["FunctionsAuth:Secrets:token-encryption-key"]!.Split(',')[0];
        await using var oldKeyGone = await Environment.StartHostAsync();
        Assert.Equal(legacy.AccessToken, (await Expect.TokenAsync(await oldKeyGone.RefreshAsync(legacy.Session))).AccessToken);
    }

    [Fact]
    public async Task Sweep_NothingUnderAnOldKey_ScansOnce_ThenNotAgainUntilTheKeyChanges()
    {
        await Host.SignInAsync(Server, "one");
        var scan = Host.Services.GetRequiredService<ReEncryptionScan>();
        var keyId = await Host.Services.GetRequiredService<TokenProtector>().GetCurrentKeyIdAsync(default);
        Assert.True(scan.IsDue(keyId));

        var summary = await Host.Services.GetRequiredService<Sweeper>().SweepAsync(CancellationToken.None);

        Assert.Equal((0, 0), (summary.ReEncrypted, summary.Errors));
        Assert.False(scan.IsDue(keyId));
        Assert.True(scan.IsDue("0000000000000000"));
    }

    /// <summary>
    /// As the sweeper leaves a session whose refresh kept failing: <c>failing</c>, no refresh planned, so its only
    /// index row is at its purge time (90 days on): no run of the due index passes it before then.
    /// </summary>
    private static async Task<string> MarkFailingAsync(TableClient table, TableClient dueIndex, string handle)
    {
        var key = KeyOf(handle).Value;
        await foreach (var indexRow in dueIndex.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"RowKey eq {key}")))
        {
            await dueIndex.DeleteEntityAsync(indexRow.PartitionKey, indexRow.RowKey);
        }

        var row = (await table.GetEntityAsync<TableEntity>(key, key)).Value;
        var purgeAt = row.GetDateTimeOffset("CreatedAt")!.Value + new FunctionsAuth.Configuration.SweeperOptions().AbsoluteLifetime;
        row["Status"] = SessionStatus.Failing;
        row["FailureCount"] = 40;
        row["DueAt"] = purgeAt;
        await table.UpdateEntityAsync(row, row.ETag, TableUpdateMode.Replace);
        await dueIndex.AddEntityAsync(new TableEntity(SessionStore.Bucket(purgeAt), key));
        return SessionStore.Bucket(purgeAt);
    }

    /// <summary>What a row written before format 2 looks like: format 1 ciphertexts (ring key, table/row/field bound), no format column.</summary>
    private async Task RewriteInFormat1Async(TableClient table, SessionCreated session, string refreshToken)
    {
        var key = KeyOf(session.Session).Value;
        var row = (await table.GetEntityAsync<TableEntity>(key, key)).Value;
        var ringKey = Convert.FromBase64String(Environment.EncryptionKey);
        row["RefreshToken"] = TestKeys.Format1Ciphertext(ringKey, refreshToken, $"{Environment.SessionsTable}/{key}/refresh_token");
        row["AccessToken"] = TestKeys.Format1Ciphertext(ringKey, session.AccessToken, $"{Environment.SessionsTable}/{key}/access_token");
        row.Remove("TokenFormat");
        await table.UpdateEntityAsync(row, row.ETag, TableUpdateMode.Replace);
    }
}
