using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using System.Text;
using FunctionsAuth.Configuration;
using FunctionsAuth.Diagnostics;
using FunctionsAuth.Secrets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Protection;

/// <summary>
/// Encrypts tokens for storage with AES-256-GCM under the key ring held in the secret
/// <see cref="FunctionsAuthOptions.EncryptionKeySecretName"/> (every enabled version decrypts, the newest encrypts).
/// </summary>
/// <remarks>
/// Format: <c>0x01</c> | key id (8) | nonce (12, random) | ciphertext | tag (16). The associated data is the header
/// (format and key id) followed by the UTF-8 <c>purpose</c>, so a ciphertext copied to another row or field does not decrypt.
/// Random 96-bit nonces stay safe for about 2^32 encryptions per key: rotate the key well before that.
/// </remarks>
public sealed class TokenProtector
{
    internal const byte FormatVersion = 0x01;
    internal const int KeyIdSize = 8;
    internal const int HeaderSize = 1 + KeyIdSize;
    internal const int NonceSize = 12;
    internal const int TagSize = 16;
    internal const int Overhead = HeaderSize + NonceSize + TagSize;

    /// <summary>At most one reload per interval for ciphertexts naming a key we do not hold, so garbage input cannot hammer Key Vault.</summary>
    internal static readonly TimeSpan UnknownKeyReloadInterval = TimeSpan.FromMinutes(1);

    /// <summary>After a failed refresh the current ring stays in use this long before the next attempt.</summary>
    internal static readonly TimeSpan FailedRefreshRetryInterval = TimeSpan.FromMinutes(1);

    // Tokens up to this size (UTF-8) and purposes up to the next are handled on the stack instead of a pooled array.
    private const int MaxStackBytes = 1024;
    private const int MaxStackAssociatedData = 256;

    private readonly ISecretSource _secretSource;
    private readonly string _secretName;
    private readonly TimeSpan _cacheDuration;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<TokenProtector> _logger;
    private readonly FunctionsAuthMetrics? _metrics;
    private readonly SingleFlight<string, ExceptionDispatchInfo?> _loads = new(StringComparer.Ordinal);
    private readonly Lock _unknownKeyReloadGate = new();

    private RingState? _state;
    private long _nextUnknownKeyReloadTicks;

    public TokenProtector(ISecretSource secretSource, IOptions<FunctionsAuthOptions> options, TimeProvider timeProvider, ILogger<TokenProtector> logger, FunctionsAuthMetrics? metrics = null)
    {
        _metrics = metrics;
        _secretSource = secretSource;
        _secretName = options.Value.EncryptionKeySecretName;
        _cacheDuration = options.Value.SecretCacheDuration;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    /// <summary>Encrypts <paramref name="plaintext"/> with the newest key, bound to <paramref name="purpose"/> (<c>"&lt;table&gt;/&lt;session key&gt;/&lt;field&gt;"</c>).</summary>
    public ValueTask<byte[]> ProtectAsync(string plaintext, string purpose, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        ArgumentException.ThrowIfNullOrEmpty(purpose);

        var ring = TryAcquireCachedRing();
        if (ring is null)
        {
            return ProtectAfterLoadAsync(plaintext, purpose, cancellationToken);
        }

        try
        {
            return new ValueTask<byte[]>(Encrypt(ring.Current, plaintext, purpose));
        }
        finally
        {
            ring.Release();
        }
    }

    /// <summary>Decrypts with the key named in the header.</summary>
    /// <exception cref="TokenProtectionException">Malformed, unknown key or tag mismatch (tampered, or another row's or field's ciphertext).</exception>
    public ValueTask<string> UnprotectAsync(ReadOnlyMemory<byte> ciphertext, string purpose, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(purpose);
        if (!TryReadKeyId(ciphertext.Span, out var keyId))
        {
            return ValueTask.FromException<string>(new TokenProtectionException(TokenProtectionFailure.MalformedCiphertext));
        }

        var ring = TryAcquireCachedRing();
        if (ring is not null)
        {
            try
            {
                if (ring.TryGetKey(keyId, out var key))
                {
                    return new ValueTask<string>(Decrypt(key, ciphertext.Span, purpose));
                }
            }
            catch (TokenProtectionException e)
            {
                return ValueTask.FromException<string>(e);
            }
            finally
            {
                ring.Release();
            }
        }

        return UnprotectSlowAsync(ciphertext, keyId, purpose, cancellationToken);
    }

    /// <summary>The id of the key new ciphertexts are written with (the sweeper re-encrypts rows under any other id).</summary>
    public ValueTask<string> GetCurrentKeyIdAsync(CancellationToken cancellationToken)
    {
        var ring = TryAcquireCachedRing();
        if (ring is null)
        {
            return GetCurrentKeyIdAfterLoadAsync(cancellationToken);
        }

        try
        {
            return new ValueTask<string>(ring.Current.IdText);
        }
        finally
        {
            ring.Release();
        }
    }

    /// <summary>The key id in a ciphertext's header (16 hex digits), or null when it is not a ciphertext of a known format.</summary>
    public static string? ReadKeyId(ReadOnlySpan<byte> ciphertext) =>
        TryReadKeyId(ciphertext, out var keyId) ? ProtectionKey.FormatId(keyId) : null;

    /// <summary>For the health endpoint: throws when the key ring cannot be loaded. A fresh ring answers without a call to the secret source.</summary>
    public ValueTask CheckAsync(CancellationToken cancellationToken)
    {
        var state = Volatile.Read(ref _state);
        return state is { Degraded: false } && !IsDue(state)
            ? ValueTask.CompletedTask
            : CheckSlowAsync(cancellationToken);
    }

    private async ValueTask CheckSlowAsync(CancellationToken cancellationToken) =>
        (await StartOrJoinLoad().WaitAsync(cancellationToken))?.Throw();

    private async ValueTask<byte[]> ProtectAfterLoadAsync(string plaintext, string purpose, CancellationToken cancellationToken)
    {
        var ring = await AcquireRingAsync(cancellationToken);
        try
        {
            return Encrypt(ring.Current, plaintext, purpose);
        }
        finally
        {
            ring.Release();
        }
    }

    private async ValueTask<string> GetCurrentKeyIdAfterLoadAsync(CancellationToken cancellationToken)
    {
        var ring = await AcquireRingAsync(cancellationToken);
        try
        {
            return ring.Current.IdText;
        }
        finally
        {
            ring.Release();
        }
    }

    private async ValueTask<string> UnprotectSlowAsync(ReadOnlyMemory<byte> ciphertext, ulong keyId, string purpose, CancellationToken cancellationToken)
    {
        if (TryDecrypt(await AcquireRingAsync(cancellationToken), keyId, ciphertext.Span, purpose, out var plaintext))
        {
            return plaintext;
        }

        // Another instance may already encrypt with a key added after our ring was loaded.
        var reload = StartReloadForUnknownKey(keyId);
        if (reload is not null)
        {
            (await reload.WaitAsync(cancellationToken))?.Throw();
            if (TryDecrypt(await AcquireRingAsync(cancellationToken), keyId, ciphertext.Span, purpose, out plaintext))
            {
                return plaintext;
            }

            Log.UnknownKey(_logger, ProtectionKey.FormatId(keyId));
        }

        throw new TokenProtectionException(TokenProtectionFailure.UnknownKey);
    }

    private static bool TryDecrypt(KeyRing ring, ulong keyId, ReadOnlySpan<byte> ciphertext, string purpose, out string plaintext)
    {
        try
        {
            if (ring.TryGetKey(keyId, out var key))
            {
                plaintext = Decrypt(key, ciphertext, purpose);
                return true;
            }

            plaintext = "";
            return false;
        }
        finally
        {
            ring.Release();
        }
    }

    private static bool TryReadKeyId(ReadOnlySpan<byte> ciphertext, out ulong keyId)
    {
        if (ciphertext.Length < Overhead || ciphertext[0] != FormatVersion)
        {
            keyId = 0;
            return false;
        }

        keyId = BinaryPrimitives.ReadUInt64BigEndian(ciphertext.Slice(1, KeyIdSize));
        return true;
    }

    private static byte[] Encrypt(ProtectionKey key, string plaintext, string purpose)
    {
        var plaintextLength = Encoding.UTF8.GetByteCount(plaintext);
        var output = new byte[Overhead + plaintextLength];
        var header = output.AsSpan(0, HeaderSize);
        header[0] = FormatVersion;
        BinaryPrimitives.WriteUInt64BigEndian(header[1..], key.Id);
        var nonce = output.AsSpan(HeaderSize, NonceSize);
        RandomNumberGenerator.Fill(nonce);

        byte[]? rentedPlaintext = null;
        Span<byte> plaintextBytes = plaintextLength <= MaxStackBytes
            ? stackalloc byte[MaxStackBytes]
            : (rentedPlaintext = ArrayPool<byte>.Shared.Rent(plaintextLength));
        plaintextBytes = plaintextBytes[..plaintextLength];
        byte[]? rentedAssociatedData = null;
        var associatedData = BuildAssociatedData(header, purpose, stackalloc byte[MaxStackAssociatedData], ref rentedAssociatedData);
        var aes = key.Rent();
        try
        {
            Encoding.UTF8.GetBytes(plaintext, plaintextBytes);
            aes.Encrypt(nonce, plaintextBytes, output.AsSpan(HeaderSize + NonceSize, plaintextLength), output.AsSpan(output.Length - TagSize), associatedData);
        }
        finally
        {
            key.Return(aes);
            CryptographicOperations.ZeroMemory(plaintextBytes);
            Return(rentedPlaintext);
            Return(rentedAssociatedData);
        }

        return output;
    }

    private static string Decrypt(ProtectionKey key, ReadOnlySpan<byte> input, string purpose)
    {
        var header = input[..HeaderSize];
        var nonce = input.Slice(HeaderSize, NonceSize);
        var ciphertext = input[(HeaderSize + NonceSize)..^TagSize];
        var tag = input[^TagSize..];

        byte[]? rentedPlaintext = null;
        Span<byte> plaintextBytes = ciphertext.Length <= MaxStackBytes
            ? stackalloc byte[MaxStackBytes]
            : (rentedPlaintext = ArrayPool<byte>.Shared.Rent(ciphertext.Length));
        plaintextBytes = plaintextBytes[..ciphertext.Length];
        byte[]? rentedAssociatedData = null;
        var associatedData = BuildAssociatedData(header, purpose, stackalloc byte[MaxStackAssociatedData], ref rentedAssociatedData);
        var aes = key.Rent();
        try
        {
            aes.Decrypt(nonce, ciphertext, tag, plaintextBytes, associatedData);
            return Encoding.UTF8.GetString(plaintextBytes);
        }
        catch (CryptographicException)
        {
            // AuthenticationTagMismatchException, with a fixed message; ours says no more.
            throw new TokenProtectionException(TokenProtectionFailure.TagMismatch);
        }
        finally
        {
            key.Return(aes);
            CryptographicOperations.ZeroMemory(plaintextBytes);
            Return(rentedPlaintext);
            Return(rentedAssociatedData);
        }
    }

    private static ReadOnlySpan<byte> BuildAssociatedData(ReadOnlySpan<byte> header, string purpose, Span<byte> stackBuffer, ref byte[]? rented)
    {
        var length = header.Length + Encoding.UTF8.GetByteCount(purpose);
        var buffer = length <= stackBuffer.Length ? stackBuffer : (rented = ArrayPool<byte>.Shared.Rent(length));
        header.CopyTo(buffer);
        Encoding.UTF8.GetBytes(purpose, buffer[header.Length..]);
        return buffer[..length];
    }

    private static void Return(byte[]? rented)
    {
        if (rented is not null)
        {
            // Pooled buffers are zeroed first: the next renter must not find a token (or a purpose) in them.
            ArrayPool<byte>.Shared.Return(rented, clearArray: true);
        }
    }

    /// <summary>The cached ring, acquired (the caller releases it), or null before the first load. A ring past its refresh time is still served while a refresh runs in the background.</summary>
    private KeyRing? TryAcquireCachedRing()
    {
        while (true)
        {
            var state = Volatile.Read(ref _state);
            if (state is null)
            {
                return null;
            }

            if (IsDue(state))
            {
                StartOrJoinLoad();
            }

            if (state.Ring.TryAcquire())
            {
                return state.Ring;
            }

            // Retired between the read and the acquire: its replacement is already published.
        }
    }

    private async ValueTask<KeyRing> AcquireRingAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (TryAcquireCachedRing() is { } ring)
            {
                return ring;
            }

            (await StartOrJoinLoad().WaitAsync(cancellationToken))?.Throw();
        }
    }

    private bool IsDue(RingState state) => _timeProvider.GetUtcNow().UtcTicks >= state.RefreshAtTicks;

    private Task<ExceptionDispatchInfo?> StartOrJoinLoad() =>
        _loads.RunAsync(_secretName, this, static (_, self) => self.LoadAsync());

    /// <summary>Null when a reload for an unknown key already ran within <see cref="UnknownKeyReloadInterval"/>.</summary>
    private Task<ExceptionDispatchInfo?>? StartReloadForUnknownKey(ulong keyId)
    {
        // The lock makes "is the interval over" and taking it one step; joining a load in flight does not take it.
        lock (_unknownKeyReloadGate)
        {
            if (_loads.TryJoin(_secretName, out var inFlight))
            {
                return inFlight;
            }

            var now = _timeProvider.GetUtcNow().UtcTicks;
            if (now < _nextUnknownKeyReloadTicks)
            {
                return null;
            }

            _nextUnknownKeyReloadTicks = now + UnknownKeyReloadInterval.Ticks;
            Log.ReloadingForUnknownKey(_logger, ProtectionKey.FormatId(keyId));
            return StartOrJoinLoad();
        }
    }

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
            var versions = await _secretSource.GetSecretVersionsAsync(_secretName, refresh: true, CancellationToken.None);
            var loaded = KeyRing.Create(_secretName, versions);
            var previous = Volatile.Read(ref _state);
            var keep = previous is not null && previous.Ring.HasSameKeysAs(loaded);
            var ring = keep ? previous!.Ring : loaded;
            Volatile.Write(ref _state, new RingState(ring, RefreshAt(_cacheDuration), Degraded: false));
            _metrics?.KeyRingLoad(keep ? "unchanged" : "loaded");
            if (keep)
            {
                // Nothing changed: keep the ring in use and zero the copies just decoded.
                loaded.Release();
            }
            else
            {
                previous?.Ring.Release();
                Log.KeyRingLoaded(_logger, _secretSource.Kind, ring.Count, ring.Current.IdText);
            }

            return null;
        }
        catch (Exception e)
        {
            _metrics?.KeyRingLoad(e is InvalidProtectionKeyException ? "invalid_key" : "failed");
            if (e is InvalidProtectionKeyException invalid)
            {
                // Not an outage that passes: say which secret and version to fix, at start-up, on health checks and requests alike.
                Log.InvalidKey(_logger, _secretSource.Kind, invalid.SecretName, invalid.Version);
            }

            var previous = Volatile.Read(ref _state);
            if (previous is not null)
            {
                // Keys rarely change: serving the ring we have beats failing every request while the source is unreachable.
                Volatile.Write(ref _state, previous with { RefreshAtTicks = RefreshAt(FailedRefreshRetryInterval), Degraded = true });
                Log.KeyRingRefreshFailed(_logger, previous.Ring.Current.IdText, FailedRefreshRetryInterval, e);
            }

            return ExceptionDispatchInfo.Capture(e);
        }
    }

    private long RefreshAt(TimeSpan after)
    {
        var now = _timeProvider.GetUtcNow();
        return after >= DateTimeOffset.MaxValue - now ? long.MaxValue : (now + after).UtcTicks;
    }

    /// <param name="Degraded">The last refresh failed: the health check reports it until a load succeeds.</param>
    private sealed record RingState(KeyRing Ring, long RefreshAtTicks, bool Degraded);
}
