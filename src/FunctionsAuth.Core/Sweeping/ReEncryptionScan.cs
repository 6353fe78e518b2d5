using FunctionsAuth.Configuration;
using FunctionsAuth.Protection;
using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Sweeping;

/// <summary>
/// Rewrites every session row whose tokens are under an older key or an older ciphertext format, in the current ones:
/// the rows the due index holds and those it does not (<c>failing</c> sessions, rows written while the index write
/// failed). The sweeper runs it after its due-index pass; it reads two columns of every row of the sessions table
/// (one request per 1,000 rows) and a row only where there is work, so it runs only when it may find some: on an instance's first run, after the encrypting key changed, and
/// otherwise every <see cref="Interval"/> (rows written meanwhile by an instance of an older version).
/// </summary>
internal sealed class ReEncryptionScan(
    SessionStore store,
    SessionCrypto crypto,
    RefreshCoordinator coordinator,
    TimeProvider time,
    IOptions<FunctionsAuthOptions> options,
    ILogger<ReEncryptionScan> logger)
{
    internal static readonly TimeSpan Interval = TimeSpan.FromHours(24);

    private readonly Lock gate = new();
    private string? lastCompletedKeyId;
    private DateTimeOffset lastCompletedAt;

    /// <summary>Whether a scan for <paramref name="currentKeyId"/> is due now.</summary>
    public bool IsDue(string currentKeyId)
    {
        lock (gate)
        {
            return lastCompletedKeyId != currentKeyId || time.GetUtcNow() - lastCompletedAt >= Interval;
        }
    }

    /// <summary>
    /// One pass when due. A row that fails is recorded on <paramref name="run"/> and the pass goes on; the pass counts
    /// as completed (and is not repeated until the next trigger) only if it went through the whole table without one.
    /// </summary>
    public async Task RunIfDueAsync(SweepRun run, CancellationToken stop)
    {
        var currentKeyId = run.CurrentKeyId;
        if (!IsDue(currentKeyId))
        {
            return;
        }

        var failures = 0;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = options.Value.Sweeper.Parallelism, CancellationToken = stop };
        var rows = store.QueryProtectionAsync(Sweeper.PageSize, stop)
            .Where(row => row.KeyId != currentKeyId || row.TokenFormat != TokenProtector.CurrentFormat);
        await Parallel.ForEachAsync(rows, parallel, async (row, token) =>
        {
            try
            {
                // The scan read two columns; the rewrite needs the whole row and its ETag.
                if (await store.GetAsync(row.Key, token) is not { } session)
                {
                    return;
                }

                switch (await ReEncryptAsync(session, currentKeyId, token))
                {
                    case ReEncryption.Rewritten:
                        run.ReEncrypted();
                        break;
                    case ReEncryption.NotNow:
                        Interlocked.Increment(ref failures);
                        break;
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !token.IsCancellationRequested)
            {
                Interlocked.Increment(ref failures);
                Log.SessionFailed(logger, row.Key, ex);
                run.Error(ex);
            }
        });

        if (failures == 0)
        {
            lock (gate)
            {
                lastCompletedKeyId = currentKeyId;
                lastCompletedAt = time.GetUtcNow();
            }
        }
    }

    /// <summary>Rewrites both tokens, conditionally on the row read: a refresh meanwhile wins (and wrote in the current key and format itself).</summary>
    internal async Task<ReEncryption> ReEncryptAsync(SessionEntity session, string currentKeyId, CancellationToken cancellationToken)
    {
        var key = new SessionKey(session.PartitionKey);
        if (session.RefreshToken is null || SessionCrypto.IsCurrent(session, currentKeyId))
        {
            return ReEncryption.Current;
        }

        if (session.IsLeased(time.GetUtcNow()))
        {
            // Being refreshed: the lease holder writes it in the current key; the next pass checks.
            return ReEncryption.NotNow;
        }

        string refreshToken;
        string? accessToken;
        try
        {
            refreshToken = await crypto.ReadRefreshTokenAsync(session, cancellationToken);
            accessToken = await crypto.ReadAccessTokenAsync(session, cancellationToken);
        }
        catch (TokenProtectionException)
        {
            Log.UndecryptableSession(logger, key, session.KeyId ?? "");
            return ReEncryption.NotNow;
        }

        var updated = session.Clone();
        await crypto.WriteTokensAsync(updated, accessToken, refreshToken, cancellationToken);
        if (await coordinator.SaveAsync(session, updated) != UpdateResult.Updated)
        {
            // Someone wrote the row meanwhile (a refresh writes in the current key and format) or deleted it.
            return ReEncryption.Current;
        }

        Log.SessionReEncrypted(logger, key, session.KeyId ?? "", updated.KeyId ?? "");
        return ReEncryption.Rewritten;
    }
}

internal enum ReEncryption
{
    /// <summary>Already current, or changed by someone else meanwhile.</summary>
    Current,

    Rewritten,

    /// <summary>Leased, or does not decrypt: the pass does not count as complete.</summary>
    NotNow,
}
