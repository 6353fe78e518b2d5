using System.Security.Cryptography;
using System.Text;

namespace FunctionsAuth.Tests.Events;

/// <summary>
/// The receiver's side of the webhook signature exactly as README.md shows it ("Verifying a webhook"), written from the
/// Standard Webhooks spec rather than from the sender's code; <see cref="EventWebhookTests"/> checks README still
/// holds this very text and verifies real deliveries with it.
/// </summary>
public static class ReadmeWebhookSnippet
{
    // README:begin
    public static bool IsFromFunctionsAuth(string secret, string id, string timestamp, string signatures, byte[] body)
    {
        // Refuse stale deliveries (a replay); five minutes is the Standard Webhooks libraries' tolerance.
        if (!long.TryParse(timestamp, out var sent) || Math.Abs(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - sent) > 300)
        {
            return false;
        }

        var key = Convert.FromBase64String(secret.StartsWith("whsec_", StringComparison.Ordinal) ? secret[6..] : secret);
        var signed = Encoding.UTF8.GetBytes($"{id}.{timestamp}.").Concat(body).ToArray();
        var expected = Encoding.ASCII.GetBytes("v1," + Convert.ToBase64String(HMACSHA256.HashData(key, signed)));
        return signatures.Split(' ').Any(s => CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(s), expected));
    }
    // README:end
}
