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
/// handle check + hash, body parse, token decryption, answer serialization. The AES-GCM baseline (a new
/// <see cref="AesGcm"/> per call, no pooling) is measured side by side with the protector's pooled keys.
/// </summary>
[MemoryDiagnoser]
public class RequestPathBenchmarks
{
    private const string Purpose = "sessions/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/access_token";

    private readonly byte[] key = RandomNumberGenerator.GetBytes(32);
    private TokenProtector protector = null!;
    private byte[] ciphertext = null!;
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

    /// <summary>What decryption would cost with a fresh AesGcm per call (key schedule every time), for the ratio.</summary>
    [Benchmark(Baseline = true)]
    public string DecryptAccessTokenNewAesGcmPerCall()
    {
        var header = ciphertext.AsSpan(0, TokenProtector.HeaderSize);
        var nonce = ciphertext.AsSpan(TokenProtector.HeaderSize, TokenProtector.NonceSize);
        var body = ciphertext.AsSpan(TokenProtector.HeaderSize + TokenProtector.NonceSize, ciphertext.Length - TokenProtector.Overhead);
        var tag = ciphertext.AsSpan(ciphertext.Length - TokenProtector.TagSize);
        var associated = new byte[header.Length + Encoding.UTF8.GetByteCount(Purpose)];
        header.CopyTo(associated);
        Encoding.UTF8.GetBytes(Purpose, associated.AsSpan(header.Length));
        var plaintext = new byte[body.Length];
        using var aes = new AesGcm(key, TokenProtector.TagSize);
        aes.Decrypt(nonce, body, tag, plaintext, associated);
        return Encoding.UTF8.GetString(plaintext);
    }

    private sealed class StaticOptionsMonitor(FunctionsAuthOptions value) : IOptionsMonitor<FunctionsAuthOptions>
    {
        public FunctionsAuthOptions CurrentValue => value;

        public FunctionsAuthOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<FunctionsAuthOptions, string?> listener) => null;
    }
}
