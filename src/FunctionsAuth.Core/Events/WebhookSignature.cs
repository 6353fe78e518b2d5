using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace FunctionsAuth.Events;

/// <summary>
/// The Standard Webhooks signature scheme (standardwebhooks.com), so receivers can verify with an existing library
/// (npm <c>standardwebhooks</c>, NuGet <c>StandardWebhooks</c>, Svix's) or a few lines of their own:
/// <c>webhook-signature: v1,&lt;base64 of HMAC-SHA256(key, "&lt;webhook-id&gt;.&lt;webhook-timestamp&gt;.&lt;body&gt;")&gt;</c>,
/// the key being the base64 after the secret's <c>whsec_</c> prefix.
/// </summary>
/// <remarks>
/// Signing is one HMAC over a documented string, written here rather than taken from a package: the sending side of
/// the scheme is this one method, and the tests verify it with the receivers' side written independently (README).
/// </remarks>
internal static class WebhookSignature
{
    public const string IdHeader = "webhook-id";
    public const string TimestampHeader = "webhook-timestamp";
    public const string SignatureHeader = "webhook-signature";
    public const string SecretPrefix = "whsec_";

    /// <summary>The signing key in a <c>whsec_&lt;base64&gt;</c> secret (the prefix is optional, as in the reference libraries).</summary>
    /// <exception cref="FormatException">Not base64, or shorter than 24 bytes (the spec's minimum) or longer than 64.</exception>
    public static byte[] KeyFrom(string secret)
    {
        var encoded = secret.StartsWith(SecretPrefix, StringComparison.Ordinal) ? secret[SecretPrefix.Length..] : secret;
        var key = Convert.FromBase64String(encoded.Trim());
        return key.Length is >= 24 and <= 64
            ? key
            : throw new FormatException($"A webhook signing secret must be {SecretPrefix} followed by base64 of 24 to 64 random bytes.");
    }

    /// <summary>The <c>webhook-signature</c> header value for one delivery.</summary>
    public static string Sign(ReadOnlySpan<byte> key, string id, long timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{id}.{timestamp}."));
        var signed = new byte[prefix.Length + body.Length];
        prefix.CopyTo(signed, 0);
        body.CopyTo(signed.AsSpan(prefix.Length));
        return "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, signed));
    }
}
