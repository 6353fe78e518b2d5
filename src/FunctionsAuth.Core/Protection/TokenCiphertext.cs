using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace FunctionsAuth.Protection;

/// <summary>
/// The protected-token format, pure (no key loading, no I/O): AES-256-GCM with a 96-bit random nonce.
/// </summary>
/// <remarks>
/// <para>Format 2 (written): <c>0x02</c> | key id (8) | nonce (12) | ciphertext | tag (16). The AES key is a per-session
/// subkey, HKDF-SHA256(ring key, info = label | table | session key), so the 2^32 random-nonce bound applies to the
/// encryptions of one session (two per refresh), not to every encryption under the ring key. The associated data is
/// the header followed by table, session key, field, provider (each length-prefixed) and the generation.</para>
/// <para>Format 1 (read only, rows written before format 2): the ring key itself, associated data = header | UTF-8
/// <c>table/session key/field</c>. The sweeper's re-encryption scan rewrites such rows in format 2.</para>
/// </remarks>
internal static class TokenCiphertext
{
    public const byte LegacyFormat = 0x01;
    public const byte CurrentFormat = 0x02;
    public const int KeyIdSize = 8;
    public const int HeaderSize = 1 + KeyIdSize;
    public const int NonceSize = 12;
    public const int TagSize = 16;
    public const int Overhead = HeaderSize + NonceSize + TagSize;

    private static ReadOnlySpan<byte> SubkeyLabel => "FunctionsAuth token subkey v2"u8;

    // Tokens up to this size (UTF-8) and contexts up to the next are handled on the stack instead of a pooled array.
    private const int MaxStackBytes = 1024;
    private const int MaxStackAssociatedData = 512;

    /// <summary>Format and key id of a ciphertext; false when it is too short or of a format this version does not know.</summary>
    public static bool TryReadHeader(ReadOnlySpan<byte> ciphertext, out byte format, out ulong keyId)
    {
        if (ciphertext.Length < Overhead || ciphertext[0] is not (LegacyFormat or CurrentFormat))
        {
            format = 0;
            keyId = 0;
            return false;
        }

        format = ciphertext[0];
        keyId = BinaryPrimitives.ReadUInt64BigEndian(ciphertext.Slice(1, KeyIdSize));
        return true;
    }

    /// <summary>Encrypts in format 2 with a fresh random nonce.</summary>
    public static byte[] Seal(ProtectionKey key, string plaintext, in TokenContext context)
    {
        Span<byte> nonce = stackalloc byte[NonceSize];
        RandomNumberGenerator.Fill(nonce);
        return Seal(key, plaintext, context, nonce);
    }

    /// <summary>Encrypts in format 2 with the given nonce (tests pin it for known-answer vectors; never reuse one).</summary>
    internal static byte[] Seal(ProtectionKey key, string plaintext, in TokenContext context, ReadOnlySpan<byte> nonce)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        var plaintextLength = Encoding.UTF8.GetByteCount(plaintext);
        var output = new byte[Overhead + plaintextLength];
        var header = output.AsSpan(0, HeaderSize);
        header[0] = CurrentFormat;
        BinaryPrimitives.WriteUInt64BigEndian(header[1..], key.Id);
        nonce.CopyTo(output.AsSpan(HeaderSize, NonceSize));

        byte[]? rentedPlaintext = null;
        byte[]? rentedAssociatedData = null;
        Span<byte> plaintextBytes = plaintextLength <= MaxStackBytes
            ? stackalloc byte[MaxStackBytes]
            : (rentedPlaintext = ArrayPool<byte>.Shared.Rent(plaintextLength));
        plaintextBytes = plaintextBytes[..plaintextLength];
        var associatedData = CurrentAssociatedData(header, context, stackalloc byte[MaxStackAssociatedData], ref rentedAssociatedData);
        using var aes = SubkeyCipher(key, context);
        try
        {
            Encoding.UTF8.GetBytes(plaintext, plaintextBytes);
            aes.Encrypt(nonce, plaintextBytes, output.AsSpan(HeaderSize + NonceSize, plaintextLength), output.AsSpan(output.Length - TagSize), associatedData);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintextBytes);
            Return(rentedPlaintext);
            Return(rentedAssociatedData);
        }

        return output;
    }

    /// <summary>Decrypts a format 1 or 2 ciphertext whose header names <paramref name="key"/>.</summary>
    /// <exception cref="TokenProtectionException">Malformed, or the tag does not match (tampered, or another context's).</exception>
    public static string Open(ProtectionKey key, ReadOnlySpan<byte> input, in TokenContext context)
    {
        if (!TryReadHeader(input, out var format, out var keyId) || keyId != key.Id)
        {
            throw new TokenProtectionException(TokenProtectionFailure.MalformedCiphertext);
        }

        var header = input[..HeaderSize];
        var nonce = input.Slice(HeaderSize, NonceSize);
        var ciphertext = input[(HeaderSize + NonceSize)..^TagSize];
        var tag = input[^TagSize..];

        byte[]? rentedPlaintext = null;
        byte[]? rentedAssociatedData = null;
        Span<byte> plaintextBytes = ciphertext.Length <= MaxStackBytes
            ? stackalloc byte[MaxStackBytes]
            : (rentedPlaintext = ArrayPool<byte>.Shared.Rent(ciphertext.Length));
        plaintextBytes = plaintextBytes[..ciphertext.Length];
        Span<byte> stackAssociatedData = stackalloc byte[MaxStackAssociatedData];
        var associatedData = format == CurrentFormat
            ? CurrentAssociatedData(header, context, stackAssociatedData, ref rentedAssociatedData)
            : LegacyAssociatedData(header, context.LegacyPurpose, stackAssociatedData, ref rentedAssociatedData);
        AesGcm? subkeyCipher = null;
        var aes = format == CurrentFormat ? (subkeyCipher = SubkeyCipher(key, context)) : key.Rent();
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
            if (subkeyCipher is null)
            {
                key.Return(aes);
            }
            else
            {
                subkeyCipher.Dispose();
            }

            CryptographicOperations.ZeroMemory(plaintextBytes);
            Return(rentedPlaintext);
            Return(rentedAssociatedData);
        }
    }

    private static AesGcm SubkeyCipher(ProtectionKey key, in TokenContext context)
    {
        // info = label | table | session key: one subkey per session, whatever the field, provider or generation.
        byte[]? rentedInfo = null;
        var info = Build(SubkeyLabel, context.Table, context.SessionKey, stackalloc byte[MaxStackAssociatedData], ref rentedInfo);
        Span<byte> subkey = stackalloc byte[ProtectionKey.KeySize];
        try
        {
            key.DeriveSubkey(info, subkey);
            return new AesGcm(subkey, TagSize);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(subkey);
            Return(rentedInfo);
        }
    }

    private static ReadOnlySpan<byte> Build(ReadOnlySpan<byte> prefix, string first, string second, Span<byte> stackBuffer, ref byte[]? rented)
    {
        var length = prefix.Length + Prefixed(first) + Prefixed(second);
        var buffer = length <= stackBuffer.Length ? stackBuffer : (rented = ArrayPool<byte>.Shared.Rent(length));
        prefix.CopyTo(buffer);
        var written = prefix.Length;
        written += WritePrefixed(first, buffer[written..]);
        written += WritePrefixed(second, buffer[written..]);
        return buffer[..written];
    }

    private static ReadOnlySpan<byte> CurrentAssociatedData(ReadOnlySpan<byte> header, in TokenContext context, Span<byte> stackBuffer, ref byte[]? rented)
    {
        var length = header.Length + Prefixed(context.Table) + Prefixed(context.SessionKey) + Prefixed(context.Field) + Prefixed(context.Provider) + sizeof(long);
        var buffer = length <= stackBuffer.Length ? stackBuffer : (rented = ArrayPool<byte>.Shared.Rent(length));
        header.CopyTo(buffer);
        var written = header.Length;
        written += WritePrefixed(context.Table, buffer[written..]);
        written += WritePrefixed(context.SessionKey, buffer[written..]);
        written += WritePrefixed(context.Field, buffer[written..]);
        written += WritePrefixed(context.Provider, buffer[written..]);
        BinaryPrimitives.WriteInt64BigEndian(buffer[written..], context.Generation);
        return buffer[..(written + sizeof(long))];
    }

    private static ReadOnlySpan<byte> LegacyAssociatedData(ReadOnlySpan<byte> header, string purpose, Span<byte> stackBuffer, ref byte[]? rented)
    {
        var length = header.Length + Encoding.UTF8.GetByteCount(purpose);
        var buffer = length <= stackBuffer.Length ? stackBuffer : (rented = ArrayPool<byte>.Shared.Rent(length));
        header.CopyTo(buffer);
        Encoding.UTF8.GetBytes(purpose, buffer[header.Length..]);
        return buffer[..length];
    }

    // A 4-byte length before each string: ("ab", "c") and ("a", "bc") must not give the same bytes.
    private static int Prefixed(string value) => sizeof(int) + Encoding.UTF8.GetByteCount(value);

    private static int WritePrefixed(string value, Span<byte> destination)
    {
        var length = Encoding.UTF8.GetBytes(value, destination[sizeof(int)..]);
        BinaryPrimitives.WriteInt32BigEndian(destination, length);
        return sizeof(int) + length;
    }

    private static void Return(byte[]? rented)
    {
        if (rented is not null)
        {
            // Pooled buffers are zeroed first: the next renter must not find a token (or a context) in them.
            ArrayPool<byte>.Shared.Return(rented, clearArray: true);
        }
    }
}
