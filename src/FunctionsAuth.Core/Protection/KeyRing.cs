using System.Diagnostics.CodeAnalysis;
using FunctionsAuth.Secrets;

namespace FunctionsAuth.Protection;

/// <summary>
/// The token-encryption keys, newest (the one that encrypts) first. Reference-counted: the protector holds one
/// reference until a newer ring replaces this one, each operation holds one while it uses a key, and the keys are
/// zeroed when the last reference goes, never under an operation still using them.
/// </summary>
internal sealed class KeyRing
{
    private readonly ProtectionKey[] _keys;
    private int _references = 1;

    private KeyRing(ProtectionKey[] keys) => _keys = keys;

    /// <summary>The newest key, whether or not it may still encrypt.</summary>
    public ProtectionKey Newest => _keys[0];

    /// <summary>The newest key whose <c>exp</c> has not passed: it encrypts. Null when every key has expired (they still decrypt).</summary>
    public ProtectionKey? EncryptionKey(DateTimeOffset now)
    {
        foreach (var key in _keys)
        {
            if (key.EncryptsAt(now))
            {
                return key;
            }
        }

        return null;
    }

    public int Count => _keys.Length;

    public static KeyRing Create(string secretName, IReadOnlyList<SecretVersion> versions)
    {
        if (versions.Count == 0)
        {
            throw new InvalidOperationException($"Secret '{secretName}' has no version to use as a token-encryption key.");
        }

        var keys = new List<ProtectionKey>(versions.Count);
        try
        {
            foreach (var version in versions)
            {
                var key = ProtectionKey.FromBase64(secretName, version.Version, version.Value, version.ExpiresOn);
                if (keys.Exists(k => k.Id == key.Id))
                {
                    // The same key stored twice (re-imported under a new version): the newer entry already covers it.
                    key.Dispose();
                    continue;
                }

                keys.Add(key);
            }
        }
        catch
        {
            keys.ForEach(k => k.Dispose());
            throw;
        }

        return new KeyRing([.. keys]);
    }

    // A linear scan: a ring holds a handful of keys, and this compares 8-byte ids without allocating.
    public bool TryGetKey(ulong id, [NotNullWhen(true)] out ProtectionKey? key)
    {
        foreach (var candidate in _keys)
        {
            if (candidate.Id == id)
            {
                key = candidate;
                return true;
            }
        }

        key = null;
        return false;
    }

    public bool HasSameKeysAs(KeyRing other)
    {
        if (_keys.Length != other._keys.Length)
        {
            return false;
        }

        for (var i = 0; i < _keys.Length; i++)
        {
            if (_keys[i].Id != other._keys[i].Id || _keys[i].ExpiresOn != other._keys[i].ExpiresOn)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>False once the ring has been retired and released by everyone: read the newer ring instead.</summary>
    public bool TryAcquire()
    {
        var seen = Volatile.Read(ref _references);
        while (seen > 0)
        {
            var previous = Interlocked.CompareExchange(ref _references, seen + 1, seen);
            if (previous == seen)
            {
                return true;
            }

            seen = previous;
        }

        return false;
    }

    public void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0)
        {
            foreach (var key in _keys)
            {
                key.Dispose();
            }
        }
    }
}
