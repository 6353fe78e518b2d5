using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using FunctionsAuth.Api;
using FunctionsAuth.Configuration;
using FunctionsAuth.Protection;
using FunctionsAuth.Secrets;
using FunctionsAuth.Sessions;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Benchmarks;

/// <summary>
/// The CPU work of one <c>/api/auth/refresh</c> answered from storage, piece by piece, without the storage read:
/// handle check + hash, body parse, token decryption, answer serialization. The baseline is format 1's decryption
/// (the ring key itself, its <see cref="AesGcm"/> pooled), measured side by side with format 2's (a per-session HKDF
/// subkey and a new <see cref="AesGcm"/> per call: the price of lifting the per-key 2^32 nonce bound).
/// </summary>
[MemoryDiagnoser]
public class RequestPathBenchmarks
{
    private static readonly TokenContext Purpose = new("sessions", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "access_token", "demo", 3);

    private readonly byte[] key = RandomNumberGenerator.GetBytes(32);
    private TokenProtector protector = null!;
    private byte[] ciphertext = null!;
    private byte[] format1Ciphertext = null!;
    private ProtectionKey ringKey = null!;
    private byte[] requestBody = null!;
    private string handle = null!;
    private string accessToken = null!;

    [GlobalSetup]
    public void Setup()
    {
        var options = new FunctionsAuthOptions { Secrets = { ["token-encryption-key"] = Convert.ToBase64String(key) }, Storage = { ConnectionString = "UseDevelopmentStorage=true" } };
        var monitor = new StaticOptionsMonitor(options);
        protector = new TokenProtector(new ConfigurationSecretSource(monitor, NullLogger<ConfigurationSecretSource>.Instance), Options.Create(options), TimeProvider.System, NullLogger<TokenProtector>.Instance);

        // A realistic access token: a ~1.2 KB JWT.
        accessToken = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9." + Convert.ToBase64String(RandomNumberGenerator.GetBytes(700)) + "." + Convert.ToBase64String(RandomNumberGenerator.GetBytes(256));
        ciphertext = protector.ProtectAsync(accessToken, Purpose, default).AsTask().GetAwaiter().GetResult();
        ringKey = ProtectionKey.FromBase64("token-encryption-key", "v1", Convert.ToBase64String(key));
        format1Ciphertext = Format1(accessToken);
        handle = SessionHandle.Create();
        requestBody = Encoding.UTF8.GetBytes($$"""{"session":"{{handle}}","min_ttl":60}""");
    }

    [Benchmark]
    public string HandleToSessionKey() => SessionHandle.TryGetKey(handle, out var sessionKey) ? sessionKey.Value : "";

    [Benchmark]
    public long? ParseRequestBody() => JsonSerializer.Deserialize(requestBody, ApiJsonContext.Default.RefreshRequest)!.MinTtl;

    [Benchmark]
    public byte[] SerializeAnswer() => JsonSerializer.SerializeToUtf8Bytes(new AccessTokenResponse(accessToken, "Bearer", 1764000000, "openid api", false), ApiJsonContext.Default.AccessTokenResponse);

    [Benchmark]
    public string DecryptAccessToken() => protector.UnprotectAsync(ciphertext, Purpose, default).GetAwaiter().GetResult();

    /// <summary>Format 1, as rows written before format 2 are read: the ring key, pooled.</summary>
    [Benchmark(Baseline = true)]
    public string DecryptAccessTokenFormat1() => TokenCiphertext.Open(ringKey, format1Ciphertext, Purpose);

    private byte[] Format1(string plaintext)
    {
        var plaintextBytes = Encoding.UTF8.GetBytes(plaintext);
        var output = new byte[TokenCiphertext.Overhead + plaintextBytes.Length];
        output[0] = TokenCiphertext.LegacyFormat;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(output.AsSpan(1), ringKey.Id);
        RandomNumberGenerator.Fill(output.AsSpan(TokenCiphertext.HeaderSize, TokenCiphertext.NonceSize));
        byte[] associated = [.. output.AsSpan(0, TokenCiphertext.HeaderSize), .. Encoding.UTF8.GetBytes(Purpose.LegacyPurpose)];
        using var aes = new AesGcm(key, TokenCiphertext.TagSize);
        aes.Encrypt(output.AsSpan(TokenCiphertext.HeaderSize, TokenCiphertext.NonceSize), plaintextBytes, output.AsSpan(TokenCiphertext.HeaderSize + TokenCiphertext.NonceSize, plaintextBytes.Length), output.AsSpan(output.Length - TokenCiphertext.TagSize), associated);
        return output;
    }

    private sealed class StaticOptionsMonitor(FunctionsAuthOptions value) : IOptionsMonitor<FunctionsAuthOptions>
    {
        public FunctionsAuthOptions CurrentValue => value;

        public FunctionsAuthOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<FunctionsAuthOptions, string?> listener) => null;
    }
}
