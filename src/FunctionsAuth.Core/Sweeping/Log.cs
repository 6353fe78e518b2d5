using FunctionsAuth.Sessions;
using Microsoft.Extensions.Logging;

namespace FunctionsAuth.Sweeping;

internal static partial class Log
{
    /// <summary>The run's one summary event (Information, or Warning when something failed or the run stopped early).</summary>
    [LoggerMessage(EventId = 5000, Message = "Sweeper run {Result} in {DurationMs} ms: {Examined} index rows read, {Due} sessions due, {Refreshed} refreshed, {Skipped} skipped, {Failed} failed ({MarkedFailing} now marked failing), {Reauth} need sign-in, {Purged} purged, {ReEncrypted} re-encrypted, {IndexHealed} stale index rows dropped, {Errors} errors.")]
    public static partial void RunCompleted(
        ILogger logger,
        LogLevel level,
        string result,
        long durationMs,
        int examined,
        int due,
        int refreshed,
        int skipped,
        int failed,
        int markedFailing,
        int reauth,
        int purged,
        int reEncrypted,
        int indexHealed,
        int errors);

    [LoggerMessage(5001, LogLevel.Warning, "Sweeper: session {Session} could not be handled; the run goes on.")]
    public static partial void SessionFailed(ILogger logger, SessionKey session, Exception exception);

    [LoggerMessage(5002, LogLevel.Debug, "Sweeper: dropped stale due-index row {Bucket} of session {Session}.")]
    public static partial void IndexRowHealed(ILogger logger, SessionKey session, string bucket);

    [LoggerMessage(5003, LogLevel.Information, "Sweeper: session {Session} (provider {Provider}) purged ({Reason}).")]
    public static partial void SessionPurged(ILogger logger, SessionKey session, string provider, string reason);

    [LoggerMessage(5004, LogLevel.Debug, "Sweeper: session {Session} re-encrypted from key {OldKeyId} to key {KeyId}.")]
    public static partial void SessionReEncrypted(ILogger logger, SessionKey session, string oldKeyId, string keyId);

    [LoggerMessage(5005, LogLevel.Error, "Sweeper: session {Session} does not decrypt with any key in the ring (key {KeyId}); it cannot be re-encrypted.")]
    public static partial void UndecryptableSession(ILogger logger, SessionKey session, string keyId);

    [LoggerMessage(5006, LogLevel.Error, "Sweeper run failed: the due index or the key ring could not be read.")]
    public static partial void RunFailed(ILogger logger, Exception exception);

    [LoggerMessage(5007, LogLevel.Warning, "Sweeper: due-index rows could not be removed; they are stale and a later run drops them.")]
    public static partial void IndexCleanupFailed(ILogger logger, Exception exception);

    [LoggerMessage(5008, LogLevel.Warning, "Sweeper: the queue {Queue} could not be created with the app's identity; infra/ is expected to have created it.")]
    public static partial void QueueCreationForbidden(ILogger logger, string queue);

    [LoggerMessage(5009, LogLevel.Information, "Sweeper run {Result} in {DurationMs} ms: {Planned} due index rows handed to the queue {Queue} as {Items} work items ({Backlog} work items were still queued).")]
    public static partial void RunPlanned(ILogger logger, string result, long durationMs, int planned, int items, string queue, int backlog);

    [LoggerMessage(EventId = 5010, Message = "Sweep work item {Result} in {DurationMs} ms: {Rows} index rows, {Due} sessions due, {Refreshed} refreshed, {Skipped} skipped, {Failed} failed, {Reauth} need sign-in, {Purged} purged, {IndexHealed} stale index rows dropped, {Errors} errors; planned {AgeMs} ms ago.")]
    public static partial void WorkItemCompleted(
        ILogger logger,
        LogLevel level,
        string result,
        long durationMs,
        int rows,
        int due,
        int refreshed,
        int skipped,
        int failed,
        int reauth,
        int purged,
        int indexHealed,
        int errors,
        long ageMs);

    [LoggerMessage(5011, LogLevel.Error, "Sweeper: a message on the work-item queue is not a sweep work item ({Reason}); it is retried and then moved to the poison queue.")]
    public static partial void WorkItemMalformed(ILogger logger, string reason);

    [LoggerMessage(5012, LogLevel.Error, "Sweeper: a work item of {Rows} index rows (first session {Session}) failed every attempt and was moved to {Queue}-poison; its sessions stay in the due index and the next run plans them again.")]
    public static partial void WorkItemPoisoned(ILogger logger, string queue, int rows, string session);
}
