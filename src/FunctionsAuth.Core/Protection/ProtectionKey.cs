using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;

namespace FunctionsAuth.Protection;

/// <summary>One AES-256 key of the ring, with a small pool of <see cref="AesGcm"/> instances (one instance must not be used by two threads at once).</summary>
internal sealed class ProtectionKey : IDisposable
{
    public const int KeySize = 32;

    private static ReadOnlySpan<byte> KeyIdLabel => "FunctionsAuth key id v1"u8;

    // Pinned: the garbage collector never moves it, so compaction leaves no stray copies of the key behind.
    private readonly byte[] _key;
    private readonly AesGcm?[] _pool = new AesGcm?[Math.Min(Environment.ProcessorCount, 16)];

    private ProtectionKey(byte[] key, string version, DateTimeOffset? expiresOn)
    {
        _key = key;
        Version = version;
        ExpiresOn = expiresOn;
        Id = ComputeId(key);
        IdText = FormatId(Id);
    }

    /// <summary>First 8 bytes of SHA-256(label || key), big-endian: the same key gets the same id whatever the source, across restarts.</summary>
    public ulong Id { get; }

    public string IdText { get; }

    /// <summary>The secret version it came from (for messages; not secret).</summary>
    public string Version { get; }

    /// <summary>The version's Key Vault <c>exp</c>: from then on the key only decrypts, it no longer encrypts.</summary>
    public DateTimeOffset? ExpiresOn { get; }

    public bool EncryptsAt(DateTimeOffset now) => ExpiresOn is not { } expires || expires > now;

    /// <summary>Decodes a version's value; rejects anything but base64 of exactly 32 bytes, naming the secret and version, never the value.</summary>
    public static ProtectionKey FromBase64(string secretName, string version, string value, DateTimeOffset? expiresOn = null)
    {
        var key = GC.AllocateUninitializedArray<byte>(KeySize, pinned: true);
        if (!Convert.TryFromBase64String(value, key, out var written) || written != KeySize)
        {
            CryptographicOperations.ZeroMemory(key);
            throw new InvalidProtectionKeyException(secretName, version);
        }

        return new ProtectionKey(key, version, expiresOn);
    }

    public static string FormatId(ulong id) => id.ToString("x16", CultureInfo.InvariantCulture);

    public AesGcm Rent()
    {
        for (var i = 0; i < _pool.Length; i++)
        {
            if (Interlocked.Exchange(ref _pool[i], null) is { } pooled)
            {
                return pooled;
            }
        }

        return new AesGcm(_key, TokenCiphertext.TagSize);
    }

    public void Return(AesGcm aes)
    {
        for (var i = 0; i < _pool.Length; i++)
        {
            if (Interlocked.CompareExchange(ref _pool[i], aes, null) is null)
            {
                return;
            }
        }

        aes.Dispose();
    }

    /// <summary>HKDF-SHA256 of this key with <paramref name="info"/> (no salt: the ring key is uniformly random already).</summary>
    public void DeriveSubkey(ReadOnlySpan<byte> info, Span<byte> subkey) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, _key, subkey, salt: default, info);

    /// <summary>Called by the ring once no operation can still be using this key.</summary>
    public void Dispose()
    {
        for (var i = 0; i < _pool.Length; i++)
        {
            Interlocked.Exchange(ref _pool[i], null)?.Dispose();
        }

        CryptographicOperations.ZeroMemory(_key);
    }

    private static ulong ComputeId(ReadOnlySpan<byte> key)
    {
        Span<byte> input = stackalloc byte[KeyIdLabel.Length + KeySize];
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        KeyIdLabel.CopyTo(input);
        key.CopyTo(input[KeyIdLabel.Length..]);
        SHA256.HashData(input, hash);
        CryptographicOperations.ZeroMemory(input);
        return BinaryPrimitives.ReadUInt64BigEndian(hash);
    }
}
