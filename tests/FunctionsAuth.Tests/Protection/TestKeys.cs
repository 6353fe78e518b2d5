using System.Security.Cryptography;
using System.Text;
using FunctionsAuth.Protection;
using FunctionsAuth.Tests.Secrets;

namespace FunctionsAuth.Tests.Protection;

/// <summary>Canonical keys and values for the protection tests.</summary>
internal static class TestKeys
{
    public const string SecretName = "token-encryption-key";
    public const string Setting = "FunctionsAuth:Secrets:" + SecretName;
    public const string RefreshToken = "1//0gRefreshToken-Canonical-7Qx";
    public const string SessionKey = "9f86d081884c7d659a2feaa0c55ad015";

    public static TokenContext Purpose { get; } = Context(SessionKey, "refresh_token");

    public static TokenContext Context(string sessionKey, string field, string provider = "demo", long generation = 0) =>
        new("sessions", sessionKey, field, provider, generation);

    public static byte[] Old { get; } = Key(0x10);

    public static byte[] New { get; } = Key(0xA0);

    /// <summary>Never in any ring under test.</summary>
    public static byte[] Stranger { get; } = Key(0x55);

    public static string Base64(byte[] key) => Convert.ToBase64String(key);

    /// <summary>The key id computed independently of the code under test.</summary>
    public static string IdOf(byte[] key) =>
        Convert.ToHexStringLower(SHA256.HashData([.. Encoding.UTF8.GetBytes("FunctionsAuth key id v1"), .. key])[..8]);

    /// <summary>
    /// A ciphertext in format 1 (rows written before format 2), built independently of the code under test: version byte,
    /// key id, nonce, AES-GCM under the ring key itself with the header and <paramref name="purpose"/> as associated data.
    /// </summary>
    public static byte[] Format1Ciphertext(byte[] key, string plaintext, string purpose)
    {
        var plaintextBytes = Encoding.UTF8.GetBytes(plaintext);
        var output = new byte[9 + 12 + plaintextBytes.Length + 16];
        output[0] = 0x01;
        Convert.FromHexString(IdOf(key)).CopyTo(output, 1);
        RandomNumberGenerator.Fill(output.AsSpan(9, 12));
        using var aes = new AesGcm(key, 16);
        aes.Encrypt(output.AsSpan(9, 12), plaintextBytes, output.AsSpan(21, plaintextBytes.Length), output.AsSpan(^16), [.. output[..9], .. Encoding.UTF8.GetBytes(purpose)]);
        return output;
    }

    /// <summary>Services whose key ring is <paramref name="newestFirst"/>, read from configuration.</summary>
    public static SecretsTestHost HostWithKeys(params byte[][] newestFirst) =>
        SecretsTestHost.Create([new(Setting, Ring(newestFirst))]);

    public static string Ring(params byte[][] newestFirst) => string.Join(',', newestFirst.Select(Base64));

    private static byte[] Key(byte first) => Enumerable.Range(0, 32).Select(i => (byte)(first + i)).ToArray();
}
