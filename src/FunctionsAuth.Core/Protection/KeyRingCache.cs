using System.Runtime.ExceptionServices;
using FunctionsAuth.Configuration;
using FunctionsAuth.Diagnostics;
using FunctionsAuth.Secrets;
using Microsoft.Extensions.Logging;

namespace FunctionsAuth.Protection;

/// <summary>
/// The token-encryption key ring as loaded from the secret source: cached for <see cref="FunctionsAuthOptions.SecretCacheDuration"/>,
/// refreshed in the background when due (the ring in hand is served meanwhile), one load at a time, a bounded reload
/// for ciphertexts naming a key it does not hold, and the last good ring kept through a failed refresh.
/// </summary>
internal sealed class KeyRingCache(ISecretSource secretSource, string secretName, TimeSpan cacheDuration, TimeProvider time, ILogger logger, FunctionsAuthMetrics? metrics)
{
    /// <summary>At most one reload per interval for ciphertexts naming a key we do not hold, so garbage input cannot hammer Key Vault.</summary>
    internal static readonly TimeSpan UnknownKeyReloadInterval = TimeSpan.FromMinutes(1);

    /// <summary>After a failed refresh the current ring stays in use this long before the next attempt.</summary>
    internal static readonly TimeSpan FailedRefreshRetryInterval = TimeSpan.FromMinutes(1);

    /// <summary>An encryption key whose <c>exp</c> is this close is warned about (log and metric) on every ring load.</summary>
    internal static readonly TimeSpan ExpiryWarningPeriod = TimeSpan.FromDays(30);

    private readonly SingleFlight<string, ExceptionDispatchInfo?> loads = new(StringComparer.Ordinal);
    private readonly Lock unknownKeyReloadGate = new();

    private RingState? state;
    private long nextUnknownKeyReloadTicks;

    public string SourceKind => secretSource.Kind;

    /// <summary>The cached ring, acquired (the caller releases it), or null before the first load. A ring past its refresh time is still served while a refresh runs in the background.</summary>
    public KeyRing? TryAcquire()
    {
        while (true)
        {
            var current = Volatile.Read(ref state);
            if (current is null)
            {
                return null;
            }

            if (IsDue(current))
            {
                StartOrJoinLoad();
            }

            if (current.Ring.TryAcquire())
            {
                return current.Ring;
            }

            // Retired between the read and the acquire: its replacement is already published.
        }
    }

    public async ValueTask<KeyRing> AcquireAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (TryAcquire() is { } ring)
            {
                return ring;
            }

            (await StartOrJoinLoad().WaitAsync(cancellationToken))?.Throw();
        }
    }

    /// <summary>For the health endpoint: throws when the ring cannot be loaded or no key may encrypt. A fresh ring answers without a call to the secret source.</summary>
    public ValueTask CheckAsync(CancellationToken cancellationToken)
    {
        var current = Volatile.Read(ref state);
        return current is { Degraded: false } && !IsDue(current) && current.Ring.EncryptionKey(time.GetUtcNow()) is not null
            ? ValueTask.CompletedTask
            : CheckSlowAsync(cancellationToken);
    }

    /// <summary>Null when a reload for an unknown key already ran within <see cref="UnknownKeyReloadInterval"/>.</summary>
    public Task<ExceptionDispatchInfo?>? StartReloadForUnknownKey(ulong keyId)
    {
        // The lock makes "is the interval over" and taking it one step; joining a load in flight does not take it.
        lock (unknownKeyReloadGate)
        {
            if (loads.TryJoin(secretName, out var inFlight))
            {
                return inFlight;
            }

            var now = time.GetUtcNow().UtcTicks;
            if (now < nextUnknownKeyReloadTicks)
            {
                return null;
            }

            nextUnknownKeyReloadTicks = now + UnknownKeyReloadInterval.Ticks;
            Log.ReloadingForUnknownKey(logger, ProtectionKey.FormatId(keyId));
            return StartOrJoinLoad();
        }
    }

    private async ValueTask CheckSlowAsync(CancellationToken cancellationToken)
    {
        (await StartOrJoinLoad().WaitAsync(cancellationToken))?.Throw();
        var ring = await AcquireAsync(cancellationToken);
        try
        {
            _ = EncryptionKeyOf(ring);
        }
        finally
        {
            ring.Release();
        }
    }

    /// <summary>The key that encrypts now.</summary>
    /// <exception cref="SecretsUnavailableException">Every key of the ring is past its <c>exp</c> (<c>key_expired</c>): nothing can be encrypted until a new version is added.</exception>
    public ProtectionKey EncryptionKeyOf(KeyRing ring)
    {
        if (ring.EncryptionKey(time.GetUtcNow()) is { } key)
        {
            return key;
        }

        Log.EveryKeyExpired(logger, secretSource.Kind, secretName, ring.Newest.IdText);
        throw new SecretsUnavailableException("key_expired");
    }

    private bool IsDue(RingState current) => time.GetUtcNow().UtcTicks >= current.RefreshAtTicks;

    private Task<ExceptionDispatchInfo?> StartOrJoinLoad() =>
        loads.RunAsync(secretName, this, static (_, self) => self.LoadAsync());

    /// <summary>
    /// Loads and publishes the ring. Failures are returned, not thrown, so a background refresh nobody awaits leaves no
    /// unobserved exception; callers that wait rethrow them.
    /// </summary>
    private async Task<ExceptionDispatchInfo?> LoadAsync()
    {
        // Off the caller's thread (and out of the unknown-key lock), whatever the secret source does synchronously.
        await Task.Yield();
        try
        {
            // The ring is cached here, so the source's own cache is bypassed: a rotation shows up within one cache period, not two.
            var versions = await secretSource.GetSecretVersionsAsync(secretName, refresh: true, CancellationToken.None);
            var loaded = KeyRing.Create(secretName, versions);
            var previous = Volatile.Read(ref state);
            var keep = previous is not null && previous.Ring.HasSameKeysAs(loaded);
            var ring = keep ? previous!.Ring : loaded;
            Volatile.Write(ref state, new RingState(ring, RefreshAt(cacheDuration), Degraded: false));
            metrics?.KeyRingLoad(keep ? "unchanged" : "loaded");
            if (keep)
            {
                // Nothing changed: keep the ring in use and zero the copies just decoded.
                loaded.Release();
            }
            else
            {
                previous?.Ring.Release();
                Log.KeyRingLoaded(logger, secretSource.Kind, ring.Count, ring.EncryptionKey(time.GetUtcNow())?.IdText ?? "none");
            }

            WarnAboutExpiry(ring);
            return null;
        }
        catch (Exception e)
        {
            metrics?.KeyRingLoad(e is InvalidProtectionKeyException ? "invalid_key" : "failed");
            if (e is InvalidProtectionKeyException invalid)
            {
                // Not an outage that passes: say which secret and version to fix, at start-up, on health checks and requests alike.
                Log.InvalidKey(logger, secretSource.Kind, invalid.SecretName, invalid.Version);
            }

            var previous = Volatile.Read(ref state);
            if (previous is not null)
            {
                // Keys rarely change: serving the ring we have beats failing every request while the source is unreachable.
                Volatile.Write(ref state, previous with { RefreshAtTicks = RefreshAt(FailedRefreshRetryInterval), Degraded = true });
                Log.KeyRingRefreshFailed(logger, previous.Ring.Newest.IdText, FailedRefreshRetryInterval, e);
            }

            return ExceptionDispatchInfo.Capture(e);
        }
    }

    /// <summary>An <c>exp</c> on the encrypting key is a deadline for adding the next version: say so well before it.</summary>
    private void WarnAboutExpiry(KeyRing ring)
    {
        var now = time.GetUtcNow();
        if (ring.EncryptionKey(now) is not { } key)
        {
            Log.EveryKeyExpired(logger, secretSource.Kind, secretName, ring.Newest.IdText);
            metrics?.EncryptionKeyTimeToExpiry(0);
            return;
        }

        if (key.ExpiresOn is not { } expires)
        {
            return;
        }

        metrics?.EncryptionKeyTimeToExpiry((expires - now).TotalSeconds);
        if (expires - now <= ExpiryWarningPeriod)
        {
            Log.EncryptionKeyExpiring(logger, key.IdText, key.Version, secretName, expires);
        }
    }

    private long RefreshAt(TimeSpan after)
    {
        var now = time.GetUtcNow();
        return after >= DateTimeOffset.MaxValue - now ? long.MaxValue : (now + after).UtcTicks;
    }

    /// <param name="Degraded">The last refresh failed: the health check reports it until a load succeeds.</param>
    private sealed record RingState(KeyRing Ring, long RefreshAtTicks, bool Degraded);
}
