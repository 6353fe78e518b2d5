using System.Buffers.Text;
using System.Security.Cryptography;

namespace FunctionsAuth.Sessions;

/// <summary>
/// The opaque handle a front end holds: 256 random bits, base64url (43 characters). Only its SHA-256
/// (<see cref="SessionKey"/>) is stored, so a table dump yields no usable handle.
/// </summary>
internal static class SessionHandle
{
    public const int Length = 43;
    private const int ByteLength = 32;

    public static string Create()
    {
        Span<byte> bytes = stackalloc byte[ByteLength];
        RandomNumberGenerator.Fill(bytes);
        return Base64Url.EncodeToString(bytes);
    }

    /// <summary>Checks the shape only (length and alphabet); says nothing about whether the session exists.</summary>
    public static bool TryGetKey(string? handle, out SessionKey key)
    {
        key = default;
        if (handle is null || handle.Length != Length)
        {
            return false;
        }

        // The decoder skips white space and would accept other shapes: check the alphabet first.
        foreach (var c in handle)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not '-' and not '_')
            {
                return false;
            }
        }

        Span<byte> bytes = stackalloc byte[ByteLength];
        int written;
        try
        {
            if (!Base64Url.TryDecodeFromChars(handle, bytes, out written) || written != ByteLength)
            {
                return false;
            }
        }
        catch (FormatException)
        {
            // Non-canonical trailing bits.
            return false;
        }

        // Reject non-canonical encodings (trailing bits set) so one session has exactly one handle.
        if (!string.Equals(Base64Url.EncodeToString(bytes), handle, StringComparison.Ordinal))
        {
            return false;
        }

        key = SessionKey.FromHandleBytes(bytes);
        return true;
    }
}

/// <summary>SHA-256 of the handle's bytes, lower-case hex: the session's partition key.</summary>
internal readonly record struct SessionKey(string Value)
{
    public static SessionKey FromHandleBytes(ReadOnlySpan<byte> handleBytes)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(handleBytes, hash);
        return new SessionKey(Convert.ToHexStringLower(hash));
    }

    /// <summary>A short, non-reversible tag for logs: enough to correlate lines, useless to an attacker.</summary>
    public string LogId => Value[..12];

    public override string ToString() => LogId;
}
