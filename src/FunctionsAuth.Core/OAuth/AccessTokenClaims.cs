using System.Buffers.Text;
using System.Text.Json;

namespace FunctionsAuth.OAuth;

/// <summary>
/// Reads a JWT access token's <c>exp</c> without validating the token. Only ever used to shorten a lifetime: an
/// unverified claim may lower what a caller says, never raise it, and a token that is not a readable JWT (opaque,
/// encrypted) simply keeps the caller's value, which the provider has vouched for at its userinfo endpoint.
/// </summary>
internal static class AccessTokenClaims
{
    private const int MaxPayloadChars = 8 * 1024;

    public static bool TryReadExpiry(string token, out DateTimeOffset expiresAt)
    {
        expiresAt = default;
        var parts = token.Split('.');
        if (parts.Length != 3 || parts[1].Length is 0 or > MaxPayloadChars)
        {
            return false;
        }

        var buffer = new byte[Base64Url.GetMaxDecodedLength(parts[1].Length)];
        if (Base64Url.DecodeFromChars(parts[1], buffer, out _, out var written) != System.Buffers.OperationStatus.Done)
        {
            return false;
        }

        try
        {
            var reader = new Utf8JsonReader(buffer.AsSpan(0, written));
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isExp = reader.ValueTextEquals("exp"u8);
                if (!reader.Read())
                {
                    return false;
                }

                if (isExp)
                {
                    // RFC 7519 §2 NumericDate: seconds, possibly fractional; out of range counts as unreadable.
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetDouble(out var seconds)
                        || seconds < 0 || seconds > DateTimeOffset.MaxValue.ToUnixTimeSeconds())
                    {
                        return false;
                    }

                    expiresAt = DateTimeOffset.FromUnixTimeSeconds((long)Math.Floor(seconds));
                    return true;
                }

                reader.Skip();
            }
        }
        catch (JsonException)
        {
        }

        return false;
    }
}
