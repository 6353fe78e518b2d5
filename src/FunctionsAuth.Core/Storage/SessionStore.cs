using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using Azure;
using Azure.Data.Tables;
using FunctionsAuth.Configuration;
using FunctionsAuth.Sessions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Storage;

/// <summary>
/// The only place that knows Table Storage: 404/409/412 become <see cref="UpdateResult"/> values here and nowhere else.
/// Session rows are only ever written conditionally (insert, or update/delete with the ETag that was read).
/// </summary>
internal sealed class SessionStore(TableServiceClient service, IOptions<FunctionsAuthOptions> options, ILogger<SessionStore> logger)
{
    private const string BucketFormat = "yyyyMMddHHmm";

    /// <summary>Operations per entity group transaction (the service's limit; Azurite fails on larger ones).</summary>
    public const int MaxBatchSize = 100;

    private const int MaxBatchAttempts = 3;

    private readonly TableClient sessions = service.GetTableClient(options.Value.Storage.SessionsTable);
    private readonly TableClient dueIndex = service.GetTableClient(options.Value.Storage.DueIndexTable);

    /// <summary>Set once both tables are known to exist (created, or creation forbidden because infra/ made them).</summary>
    private volatile bool tablesReady;

    public string SessionsTableName => sessions.Name;

    public async Task EnsureTablesAsync(CancellationToken cancellationToken)
    {
        foreach (var table in new[] { sessions, dueIndex })
        {
            try
            {
                await table.CreateIfNotExistsAsync(cancellationToken);
            }
            catch (RequestFailedException ex) when (ex.Status == (int)HttpStatusCode.Forbidden)
            {
                // With table-scoped roles the app may not create tables; infra/ creates them.
                Log.TableCreationForbidden(logger, table.Name);
            }
            catch (Exception ex) when (IsOutage(ex, cancellationToken))
            {
                throw Outage(ex);
            }
        }

        tablesReady = true;
    }

    public async Task<SessionEntity?> GetAsync(SessionKey key, CancellationToken cancellationToken)
    {
        try
        {
            var response = await sessions.GetEntityIfExistsAsync<SessionEntity>(key.Value, key.Value, cancellationToken: cancellationToken);
            return response.HasValue ? response.Value : null;
        }
        catch (Exception ex) when (IsOutage(ex, cancellationToken))
        {
            throw Outage(ex);
        }
    }

    /// <summary>
    /// The session row and one of its scoped token rows, read side by side (one round trip's wait): the SDK reads a query's
    /// rows as one entity type, and these are two.
    /// </summary>
    public async Task<(SessionEntity? Session, ScopedTokenEntity? Scoped)> GetWithScopedAsync(SessionKey key, string scopedRowKey, CancellationToken cancellationToken)
    {
        var session = GetAsync(key, cancellationToken);
        var scoped = GetScopedAsync(key, scopedRowKey, cancellationToken);

        // Both are awaited (and observed) whichever fails.
        await Task.WhenAll(session, scoped);
        return (session.Result, scoped.Result);
    }

    public async Task<ScopedTokenEntity?> GetScopedAsync(SessionKey key, string scopedRowKey, CancellationToken cancellationToken)
    {
        try
        {
            var response = await sessions.GetEntityIfExistsAsync<ScopedTokenEntity>(key.Value, scopedRowKey, cancellationToken: cancellationToken);
            return response.HasValue ? response.Value : null;
        }
        catch (Exception ex) when (IsOutage(ex, cancellationToken))
        {
            throw Outage(ex);
        }
    }

    /// <summary>The session's scoped token rows: what they are for, when they expire and were used; no ciphertext.</summary>
    public async Task<IReadOnlyList<ScopedTokenEntity>> QueryScopedAsync(SessionKey key, CancellationToken cancellationToken)
    {
        // Row keys of the partition's scoped rows all start with the session key and the separator: one range.
        var from = key.Value + ScopedTokenEntity.Separator;
        var to = key.Value + (char)(ScopedTokenEntity.Separator + 1);
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {key.Value} and RowKey gt {from} and RowKey lt {to}");
        var rows = sessions.QueryAsync<ScopedTokenEntity>(filter, maxPerPage: MaxBatchSize, select: ["PartitionKey", "RowKey", nameof(ScopedTokenEntity.RequestedScope), nameof(ScopedTokenEntity.Resource), nameof(ScopedTokenEntity.AccessTokenIssuedAt), nameof(ScopedTokenEntity.AccessTokenExpiresAt), nameof(ScopedTokenEntity.Generation), nameof(ScopedTokenEntity.LastUsedAt)], cancellationToken: cancellationToken);
        var found = new List<ScopedTokenEntity>();
        await foreach (var row in RowsAsync(rows, cancellationToken))
        {
            found.Add(row);
        }

        return found;
    }

    /// <summary>Records a scoped token's use if the row still has the ETag it was read with; losing the race is harmless.</summary>
    public async Task TryRecordScopedUseAsync(ScopedTokenEntity scoped, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var use = new TableEntity(scoped.PartitionKey, scoped.RowKey) { [nameof(ScopedTokenEntity.LastUsedAt)] = now };
        try
        {
            await sessions.UpdateEntityAsync(use, scoped.ETag, TableUpdateMode.Merge, cancellationToken);
        }
        catch (RequestFailedException ex) when (IsLostRace(ex))
        {
        }
        catch (Exception ex) when (IsOutage(ex, cancellationToken))
        {
            throw Outage(ex);
        }
    }

    /// <summary>Adds a new session; false when the key exists already (409).</summary>
    public async Task<bool> TryAddAsync(SessionEntity entity, CancellationToken cancellationToken)
    {
        if (entity.RowKey != entity.PartitionKey || entity.PartitionKey.Length == 0)
        {
            throw new InvalidOperationException("A session row is keyed by its session key: PartitionKey and RowKey both.");
        }

        try
        {
            var response = await sessions.AddEntityAsync(entity, cancellationToken);
            entity.ETag = response.Headers.ETag ?? default;
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status == (int)HttpStatusCode.Conflict)
        {
            return false;
        }
        catch (Exception ex) when (IsOutage(ex, cancellationToken))
        {
            throw Outage(ex);
        }
    }

    /// <summary>Replaces the row if it still has <paramref name="entity"/>'s ETag; on success the entity carries the new one.</summary>
    /// <param name="alongside">
    /// Writes to the session's scoped token rows that must land with this one or not at all: then the whole goes as one
    /// entity group transaction (same partition), the session row first, so its ETag guards them all.
    /// </param>
    public async Task<UpdateResult> TryUpdateAsync(SessionEntity entity, CancellationToken cancellationToken, IReadOnlyList<TableTransactionAction>? alongside = null)
    {
        if (entity.ETag == default || entity.ETag == ETag.All)
        {
            throw new InvalidOperationException("Session rows are only updated with the ETag they were read with.");
        }

        if (alongside is { Count: > MaxBatchSize - 1 } || alongside?.Any(a => a.Entity.PartitionKey != entity.PartitionKey || !ScopedTokenEntity.IsScopedRow(a.Entity.RowKey)) == true)
        {
            throw new ArgumentException($"At most {MaxBatchSize - 1} writes to the session's own scoped token rows.", nameof(alongside));
        }

        try
        {
            if (alongside is { Count: > 0 })
            {
                var response = await sessions.SubmitTransactionAsync([new(TableTransactionActionType.UpdateReplace, entity, entity.ETag), .. alongside], cancellationToken);
                entity.ETag = response.Value[0].Headers.ETag ?? default;
            }
            else
            {
                var response = await sessions.UpdateEntityAsync(entity, entity.ETag, TableUpdateMode.Replace, cancellationToken);
                entity.ETag = response.Headers.ETag ?? default;
            }

            return UpdateResult.Updated;
        }
        catch (RequestFailedException ex) when (IsLostRace(ex))
        {
            return Translate(ex);
        }
        catch (Exception ex) when (IsOutage(ex, cancellationToken))
        {
            throw Outage(ex);
        }
    }

    /// <summary>
    /// Writes only <paramref name="claimed"/>'s lease (id and expiry) if the row still has its ETag: a merge of two
    /// properties instead of a replace of the whole row (ciphertexts included), the same guarantee for a smaller
    /// request on the refresh's critical path. On success the entity carries the new ETag.
    /// </summary>
    public async Task<UpdateResult> TryClaimLeaseAsync(SessionEntity claimed, CancellationToken cancellationToken)
    {
        if (claimed.ETag == default || claimed.ETag == ETag.All)
        {
            throw new InvalidOperationException("A lease is only claimed with the ETag the row was read with.");
        }

        var lease = new TableEntity(claimed.PartitionKey, claimed.RowKey)
        {
            [nameof(SessionEntity.LeaseId)] = claimed.LeaseId,
            [nameof(SessionEntity.LeaseExpiresAt)] = claimed.LeaseExpiresAt,
        };
        try
        {
            var response = await sessions.UpdateEntityAsync(lease, claimed.ETag, TableUpdateMode.Merge, cancellationToken);
            claimed.ETag = response.Headers.ETag ?? default;
            return UpdateResult.Updated;
        }
        catch (RequestFailedException ex) when (IsLostRace(ex))
        {
            return Translate(ex);
        }
        catch (Exception ex) when (IsOutage(ex, cancellationToken))
        {
            throw Outage(ex);
        }
    }

    /// <summary>
    /// Conditional update that also moves the session's due-index row. The new index row is written first: a crash
    /// between the writes leaves an extra index row (the sweeper drops it), never a due session missing from the index.
    /// </summary>
    /// <param name="removePreviousIndexRow">False when the caller removes the previous row itself (the sweeper batches them).</param>
    /// <param name="preindexed">
    /// An index row the caller wrote ahead (see <see cref="TryPreindexAsync"/>): it stands for the new one when its bucket
    /// is right, and is removed (conditionally on its ETag) when it is not.
    /// </param>
    /// <param name="alongside">Scoped token rows written in the same transaction (see <see cref="TryUpdateAsync"/>).</param>
    public async Task<UpdateResult> TryUpdateAndReindexAsync(DateTimeOffset? previousDueAt, SessionEntity updated, CancellationToken cancellationToken, bool removePreviousIndexRow = true, DueIndexEntry? preindexed = null, IReadOnlyList<TableTransactionAction>? alongside = null)
    {
        var key = new SessionKey(updated.PartitionKey);
        var bucket = BucketOrNull(updated.DueAt);
        var moved = BucketOrNull(previousDueAt) != bucket;
        if (moved && updated.DueAt is { } due && preindexed?.Bucket != bucket)
        {
            await AddToIndexAsync(key, due, cancellationToken);
        }

        var result = await TryUpdateAsync(updated, cancellationToken, alongside);
        if (result == UpdateResult.Updated && moved && removePreviousIndexRow && previousDueAt is { } old)
        {
            await RemoveFromIndexAsync(key, old, cancellationToken);
        }

        // A wrong guess. Not after a conflict: whoever changed the row may have wanted that very bucket, and an extra
        // index row only costs a later run a read, where a missing one would hide a due session.
        if (preindexed is { } extra && ((result == UpdateResult.Updated && extra.Bucket != bucket) || result == UpdateResult.NotFound))
        {
            try
            {
                await TryRemoveStaleIndexRowAsync(extra, cancellationToken);
            }
            catch (StorageUnavailableException)
            {
                // The session row is written: a failed clean-up leaves a stale index row, which the sweeper drops.
            }
        }

        return result;
    }

    /// <summary>
    /// Best effort: puts the session into the index at <paramref name="dueAt"/> ahead of a write that will probably move
    /// it there. Null when the write failed; the write before the move then happens as usual.
    /// </summary>
    public async Task<DueIndexEntry?> TryPreindexAsync(SessionKey key, DateTimeOffset dueAt, CancellationToken cancellationToken)
    {
        var bucket = Bucket(dueAt);
        try
        {
            var response = await dueIndex.UpsertEntityAsync(new DueIndexEntity { PartitionKey = bucket, RowKey = key.Value }, TableUpdateMode.Replace, cancellationToken);
            return response.Headers.ETag is { } etag ? new DueIndexEntry(bucket, key, etag) : null;
        }
        catch (Exception ex) when (IsOutage(ex, cancellationToken))
        {
            // Runs beside a provider call: failing here must not fail the refresh whose token is being spent.
            return null;
        }
    }

    /// <summary>
    /// Deletes the session row if it still has the ETag it was read with, and its scoped token rows with it in the same
    /// transaction: none outlives its session, and none can be added meanwhile (that would change the session's ETag).
    /// </summary>
    public async Task<UpdateResult> TryDeleteAsync(SessionEntity entity, CancellationToken cancellationToken)
    {
        try
        {
            if (entity.ScopedTokens > 0)
            {
                var scoped = await QueryScopedAsync(new SessionKey(entity.PartitionKey), cancellationToken);
                await sessions.SubmitTransactionAsync(
                    [
                        new(TableTransactionActionType.Delete, entity, entity.ETag),
                        .. scoped.Take(MaxBatchSize - 1).Select(row => new TableTransactionAction(TableTransactionActionType.Delete, row, ETag.All)),
                    ],
                    cancellationToken);
                return UpdateResult.Updated;
            }

            await sessions.DeleteEntityAsync(entity.PartitionKey, entity.RowKey, entity.ETag, cancellationToken);
            return UpdateResult.Updated;
        }
        catch (RequestFailedException ex) when (IsLostRace(ex))
        {
            return Translate(ex);
        }
        catch (Exception ex) when (IsOutage(ex, cancellationToken))
        {
            throw Outage(ex);
        }
    }

    /// <summary>Puts the session into the due index at <paramref name="dueAt"/>. Index rows hold no secret; an upsert is safe.</summary>
    public async Task AddToIndexAsync(SessionKey key, DateTimeOffset dueAt, CancellationToken cancellationToken)
    {
        try
        {
            await dueIndex.UpsertEntityAsync(new DueIndexEntity { PartitionKey = Bucket(dueAt), RowKey = key.Value }, TableUpdateMode.Replace, cancellationToken);
        }
        catch (Exception ex) when (IsOutage(ex, cancellationToken))
        {
            throw Outage(ex);
        }
    }

    public async Task RemoveFromIndexAsync(SessionKey key, DateTimeOffset dueAt, CancellationToken cancellationToken)
    {
        await RemoveFromIndexAsync(Bucket(dueAt), key.Value, cancellationToken);
    }

    public async Task RemoveFromIndexAsync(string bucket, string sessionKey, CancellationToken cancellationToken)
    {
        try
        {
            await dueIndex.DeleteEntityAsync(bucket, sessionKey, ETag.All, cancellationToken);
        }
        catch (RequestFailedException ex) when (ex.Status == (int)HttpStatusCode.NotFound)
        {
        }
        catch (Exception ex) when (IsOutage(ex, cancellationToken))
        {
            throw Outage(ex);
        }
    }

    /// <summary>
    /// Drops an index row the sweeper found stale, only if it is still the row that was read: a writer moving the
    /// session back into that bucket meanwhile has rewritten it (new ETag), and its row must stay. False: not removed.
    /// </summary>
    public async Task<bool> TryRemoveStaleIndexRowAsync(DueIndexEntry entry, CancellationToken cancellationToken)
    {
        if (entry.ETag == default || entry.ETag == ETag.All)
        {
            throw new InvalidOperationException("Stale index rows are only removed with the ETag they were read with.");
        }

        try
        {
            await dueIndex.DeleteEntityAsync(entry.Bucket, entry.Key.Value, entry.ETag, cancellationToken);
            return true;
        }
        catch (RequestFailedException ex) when (IsLostRace(ex))
        {
            return false;
        }
        catch (Exception ex) when (IsOutage(ex, cancellationToken))
        {
            throw Outage(ex);
        }
    }

    /// <summary>
    /// Drops index rows of one bucket as the sweeper read them, in one entity group transaction (up to
    /// <see cref="MaxBatchSize"/>), each conditional on its ETag. A row that was rewritten or is already gone fails the
    /// batch; it is left out and the rest sent again, so a lost race costs a retry, not a request per row.
    /// </summary>
    /// <returns>The rows removed by this call.</returns>
    public async Task<IReadOnlyList<DueIndexEntry>> RemoveIndexRowsAsync(IReadOnlyList<DueIndexEntry> rows, CancellationToken cancellationToken)
    {
        if (rows.Count > MaxBatchSize || rows.Any(r => r.Bucket != rows[0].Bucket || r.ETag == default || r.ETag == ETag.All))
        {
            throw new ArgumentException($"One bucket, at most {MaxBatchSize} rows, each with the ETag it was read with.", nameof(rows));
        }

        var remaining = rows.ToList();
        for (var attempt = 0; remaining.Count > 0 && attempt < MaxBatchAttempts; attempt++)
        {
            try
            {
                await dueIndex.SubmitTransactionAsync(
                    remaining.Select(r => new TableTransactionAction(TableTransactionActionType.Delete, new DueIndexEntity { PartitionKey = r.Bucket, RowKey = r.Key.Value }, r.ETag)),
                    cancellationToken);
                return remaining;
            }
            catch (TableTransactionFailedException ex) when (IsLostRace(ex))
            {
                if (ex.FailedTransactionActionIndex is not { } failed || failed >= remaining.Count)
                {
                    break;
                }

                remaining.RemoveAt(failed);
            }
            catch (Exception ex) when (IsOutage(ex, cancellationToken))
            {
                throw Outage(ex);
            }
        }

        // Many lost races in one batch: settle the rest one by one.
        var removed = new List<DueIndexEntry>(remaining.Count);
        foreach (var row in remaining)
        {
            if (await TryRemoveStaleIndexRowAsync(row, cancellationToken))
            {
                removed.Add(row);
            }
        }

        return removed;
    }

    /// <summary>
    /// Index rows due at or before <paramref name="upTo"/>, oldest first. One range scan over partition keys:
    /// its cost grows with the number of due rows, not with the number of sessions stored.
    /// </summary>
    public async IAsyncEnumerable<DueIndexEntry> QueryDueAsync(DateTimeOffset upTo, int pageSize, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var filter = TableClient.CreateQueryFilter($"PartitionKey le {Bucket(upTo)}");
        var rows = dueIndex.QueryAsync<DueIndexEntity>(filter, maxPerPage: pageSize, select: ["PartitionKey", "RowKey"], cancellationToken: cancellationToken);
        await foreach (var row in RowsAsync(rows, cancellationToken))
        {
            yield return new DueIndexEntry(row.PartitionKey, new SessionKey(row.RowKey), row.ETag);
        }
    }

    /// <summary>
    /// Every session row's key id and ciphertext format (nothing else is read), whatever its status and whether or not
    /// the due index holds it (<c>failing</c> rows sit there only at their purge time). A scan of the whole table: the
    /// re-encryption scan runs it rarely. Filtering happens here rather than in an OData filter because rows written
    /// before the format column existed lack it, and how the service compares a missing property is not a contract.
    /// </summary>
    public async IAsyncEnumerable<(SessionKey Key, string? KeyId, int? TokenFormat)> QueryProtectionAsync(int pageSize, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var rows = sessions.QueryAsync<SessionEntity>(maxPerPage: pageSize, select: ["PartitionKey", "RowKey", nameof(SessionEntity.KeyId), nameof(SessionEntity.TokenFormat)], cancellationToken: cancellationToken);
        await foreach (var row in RowsAsync(rows, cancellationToken))
        {
            if (row.PartitionKey == row.RowKey && row.PartitionKey.Length > 0)
            {
                yield return (new SessionKey(row.PartitionKey), row.KeyId, row.TokenFormat);
            }
        }
    }

    /// <summary>The rows of a query, page by page, with a failed page fetch turned into <see cref="StorageUnavailableException"/>.</summary>
    private static async IAsyncEnumerable<T> RowsAsync<T>(AsyncPageable<T> query, [EnumeratorCancellation] CancellationToken cancellationToken)
        where T : notnull
    {
        await using var enumerator = query.AsPages().GetAsyncEnumerator(cancellationToken);
        while (true)
        {
            // A yield cannot stand inside a try with a catch, so the page fetch is guarded on its own.
            Page<T> page;
            try
            {
                if (!await enumerator.MoveNextAsync())
                {
                    yield break;
                }

                page = enumerator.Current;
            }
            catch (Exception ex) when (IsOutage(ex, cancellationToken))
            {
                throw Outage(ex);
            }

            foreach (var row in page.Values)
            {
                yield return row;
            }
        }
    }

    /// <summary>Reads nothing but proves the table answers with the configured identity (and that the tables exist).</summary>
    public async Task CheckAsync(CancellationToken cancellationToken)
    {
        if (!tablesReady)
        {
            // Start-up could not create them (storage did not answer then): healthy only once they exist.
            await EnsureTablesAsync(cancellationToken);
        }

        try
        {
            await sessions.GetEntityIfExistsAsync<SessionEntity>("health", "health", select: ["PartitionKey"], cancellationToken: cancellationToken);
        }
        catch (Exception ex) when (IsOutage(ex, cancellationToken))
        {
            throw Outage(ex);
        }
    }

    private static string? BucketOrNull(DateTimeOffset? dueAt) => dueAt is { } value ? Bucket(value) : null;

    public static string Bucket(DateTimeOffset dueAt) => dueAt.UtcDateTime.ToString(BucketFormat, CultureInfo.InvariantCulture);

    /// <summary>
    /// Storage did not answer usefully: no connection, a time-out, 5xx, throttling, or a 403 (the identity lost its role).
    /// The SDK throws an <see cref="AggregateException"/> when its own retries are exhausted. A caller's cancellation is
    /// not an outage. Other 4xx answers are bugs of ours and stay exceptions.
    /// </summary>
    private static bool IsOutage(Exception ex, CancellationToken cancellationToken) => ex switch
    {
        RequestFailedException r => r.Status is 0 or (int)HttpStatusCode.Forbidden or (int)HttpStatusCode.RequestTimeout or (int)HttpStatusCode.TooManyRequests or >= 500 || IsTableMissing(r),
        AggregateException => true,
        HttpRequestException or IOException => true,
        OperationCanceledException => !cancellationToken.IsCancellationRequested,
        _ => false,
    };

    private static StorageUnavailableException Outage(Exception ex)
    {
        var first = ex is AggregateException aggregate ? aggregate.Flatten().InnerExceptions.LastOrDefault() ?? ex : ex;
        var failure = first switch
        {
            RequestFailedException { Status: 0 } => "connection_failed",
            RequestFailedException r when IsTableMissing(r) => "table_not_found",
            RequestFailedException r => "http_" + r.Status.ToString(CultureInfo.InvariantCulture),
            OperationCanceledException => "timeout",
            _ => "connection_failed",
        };

        // The SDK's message can quote the request URI and entity keys (hashes, not secrets); the inner exception keeps it for debugging.
        return new StorageUnavailableException(failure, ex);
    }

    private static bool IsLostRace(RequestFailedException ex) =>
        ex.Status is (int)HttpStatusCode.PreconditionFailed || (ex.Status == (int)HttpStatusCode.NotFound && !IsTableMissing(ex));

    /// <summary>
    /// The table itself is missing (not created yet: storage was unreachable at start-up), not the row: an outage of
    /// ours until start-up's retry creates it, never "the session is gone".
    /// </summary>
    private static bool IsTableMissing(RequestFailedException ex) =>
        ex.Status == (int)HttpStatusCode.NotFound && ex.ErrorCode == "TableNotFound";

    private static UpdateResult Translate(RequestFailedException ex) =>
        ex.Status == (int)HttpStatusCode.PreconditionFailed ? UpdateResult.Conflict : UpdateResult.NotFound;
}

/// <summary>One due-index row as read: its bucket (minute), the session it points to, and its ETag.</summary>
internal readonly record struct DueIndexEntry(string Bucket, SessionKey Key, ETag ETag);
