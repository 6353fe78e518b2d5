using System.Text;
using FunctionsAuth.Configuration;
using FunctionsAuth.Protection;
using FunctionsAuth.Secrets;
using FunctionsAuth.Tests.Secrets;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace FunctionsAuth.Tests.Protection;

public sealed class TokenProtectorTests
{
    [Theory]
    [InlineData("")]
    [InlineData(TestKeys.RefreshToken)]
    [InlineData("ünïcødé 🔑 token")]
    public async Task Protect_ThenUnprotect_ReturnsThePlaintext(string plaintext)
    {
        using var host = TestKeys.HostWithKeys(TestKeys.New);
        var protector = host.Get<TokenProtector>();

        var ciphertext = await protector.ProtectAsync(plaintext, TestKeys.Purpose, CancellationToken.None);

        Assert.Equal(plaintext, await protector.UnprotectAsync(ciphertext, TestKeys.Purpose, CancellationToken.None));
    }

    [Fact]
    public async Task Protect_ThenUnprotect_LargeTokenAndLongPurpose_RoundTrip()
    {
        using var host = TestKeys.HostWithKeys(TestKeys.New);
        var protector = host.Get<TokenProtector>();
        var token = string.Concat(Enumerable.Repeat("eyJhbGciOiJSUzI1NiJ9.", 400));
        var purpose = TestKeys.Context(new string('a', 600), "access_token", provider: new string('p', 300), generation: long.MaxValue);

        var ciphertext = await protector.ProtectAsync(token, purpose, CancellationToken.None);

        Assert.Equal(token, await protector.UnprotectAsync(ciphertext, purpose, CancellationToken.None));
    }

    [Fact]
    public async Task Protect_WritesFormatKeyIdNonceCiphertextAndTag()
    {
        using var host = TestKeys.HostWithKeys(TestKeys.New, TestKeys.Old);
        var protector = host.Get<TokenProtector>();

        var ciphertext = await protector.ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None);

        Assert.Equal(1 + 8 + 12 + Encoding.UTF8.GetByteCount(TestKeys.RefreshToken) + 16, ciphertext.Length);
        Assert.Equal(0x02, ciphertext[0]);
        Assert.Equal(TestKeys.IdOf(TestKeys.New), Convert.ToHexStringLower(ciphertext, 1, 8));
        Assert.Equal(TestKeys.IdOf(TestKeys.New), TokenProtector.ReadKeyId(ciphertext));
        Assert.Equal(TestKeys.IdOf(TestKeys.New), await protector.GetCurrentKeyIdAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Protect_SamePlaintextTwice_GivesDifferentCiphertexts()
    {
        using var host = TestKeys.HostWithKeys(TestKeys.New);
        var protector = host.Get<TokenProtector>();

        var first = await protector.ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None);
        var second = await protector.ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None);

        Assert.NotEqual(first.AsSpan(9, 12).ToArray(), second.AsSpan(9, 12).ToArray());
        Assert.NotEqual(first.AsSpan(21).ToArray(), second.AsSpan(21).ToArray());
    }

    [Fact]
    public async Task Unprotect_AnyTamperedByte_Fails()
    {
        using var host = TestKeys.HostWithKeys(TestKeys.New);
        var protector = host.Get<TokenProtector>();
        var ciphertext = await protector.ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None);

        for (var i = 0; i < ciphertext.Length; i++)
        {
            var tampered = (byte[])ciphertext.Clone();
            tampered[i] ^= 0x01;

            var failure = await Assert.ThrowsAsync<TokenProtectionException>(
                () => protector.UnprotectAsync(tampered, TestKeys.Purpose, CancellationToken.None).AsTask());

            var expected = i switch
            {
                0 => TokenProtectionFailure.MalformedCiphertext,
                <= 8 => TokenProtectionFailure.UnknownKey,
                _ => TokenProtectionFailure.TagMismatch,
            };
            Assert.Equal(expected, failure.Failure);
        }
    }

    [Fact]
    public async Task Unprotect_CiphertextFromAnotherRow_Fails()
    {
        using var host = TestKeys.HostWithKeys(TestKeys.New);
        var protector = host.Get<TokenProtector>();
        var ciphertext = await protector.ProtectAsync(TestKeys.RefreshToken, TestKeys.Context("aaaa", "refresh_token"), CancellationToken.None);

        var failure = await Assert.ThrowsAsync<TokenProtectionException>(
            () => protector.UnprotectAsync(ciphertext, TestKeys.Context("bbbb", "refresh_token"), CancellationToken.None).AsTask());

        Assert.Equal(TokenProtectionFailure.TagMismatch, failure.Failure);
    }

    [Fact]
    public async Task Unprotect_CiphertextFromAnotherField_Fails()
    {
        using var host = TestKeys.HostWithKeys(TestKeys.New);
        var protector = host.Get<TokenProtector>();
        var ciphertext = await protector.ProtectAsync(TestKeys.RefreshToken, TestKeys.Context("aaaa", "refresh_token"), CancellationToken.None);

        var failure = await Assert.ThrowsAsync<TokenProtectionException>(
            () => protector.UnprotectAsync(ciphertext, TestKeys.Context("aaaa", "access_token"), CancellationToken.None).AsTask());

        Assert.Equal(TokenProtectionFailure.TagMismatch, failure.Failure);
    }

    [Theory]
    [InlineData(0, 0x01)]
    [InlineData(36, 0x01)]
    [InlineData(64, 0x03)]
    public async Task Unprotect_NotAProtectedToken_FailsAsMalformed(int length, byte format)
    {
        using var host = TestKeys.HostWithKeys(TestKeys.New);
        var bytes = new byte[length];
        if (length > 0)
        {
            bytes[0] = format;
        }

        var failure = await Assert.ThrowsAsync<TokenProtectionException>(
            () => host.Get<TokenProtector>().UnprotectAsync(bytes, TestKeys.Purpose, CancellationToken.None).AsTask());

        Assert.Equal(TokenProtectionFailure.MalformedCiphertext, failure.Failure);
        Assert.Null(TokenProtector.ReadKeyId(bytes));
    }

    [Fact]
    public async Task Failures_RevealNeitherPlaintextNorKeyNorPurpose()
    {
        using var host = TestKeys.HostWithKeys(TestKeys.New);
        var protector = host.Get<TokenProtector>();
        var ciphertext = await protector.ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None);
        using var strangerHost = TestKeys.HostWithKeys(TestKeys.Stranger);
        var foreign = await strangerHost.Get<TokenProtector>().ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None);
        var tampered = (byte[])ciphertext.Clone();
        tampered[^1] ^= 0x80;

        TokenProtectionException[] failures =
        [
            await Assert.ThrowsAsync<TokenProtectionException>(() => protector.UnprotectAsync(tampered, TestKeys.Purpose, CancellationToken.None).AsTask()),
            await Assert.ThrowsAsync<TokenProtectionException>(() => protector.UnprotectAsync(ciphertext, TestKeys.Context("0therrow", "refresh_token"), CancellationToken.None).AsTask()),
            await Assert.ThrowsAsync<TokenProtectionException>(() => protector.UnprotectAsync(foreign, TestKeys.Purpose, CancellationToken.None).AsTask()),
            await Assert.ThrowsAsync<TokenProtectionException>(() => protector.UnprotectAsync(ciphertext[..20], TestKeys.Purpose, CancellationToken.None).AsTask()),
        ];

        string[] forbidden =
        [
            TestKeys.RefreshToken, TestKeys.SessionKey, "0therrow",
            TestKeys.Base64(TestKeys.New), Convert.ToHexString(TestKeys.New), Convert.ToHexStringLower(TestKeys.New),
            Convert.ToBase64String(ciphertext), Convert.ToHexString(ciphertext),
        ];
        var texts = failures.Select(f => f.ToString()).Concat(host.Logs.GetSnapshot().Select(r => r.Message + r.Exception));
        foreach (var text in texts)
        {
            Assert.All(forbidden, secret => Assert.DoesNotContain(secret, text, StringComparison.OrdinalIgnoreCase));
        }

        Assert.All(failures, f => Assert.Equal("The protected token could not be decrypted.", f.Message));
    }

    [Fact]
    public async Task CachedRing_OperationsCompleteSynchronously()
    {
        using var host = TestKeys.HostWithKeys(TestKeys.New);
        var protector = host.Get<TokenProtector>();
        var warm = await protector.ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None);

        var protect = protector.ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None);
        var unprotect = protector.UnprotectAsync(warm, TestKeys.Purpose, CancellationToken.None);
        var keyId = protector.GetCurrentKeyIdAsync(CancellationToken.None);
        var check = protector.CheckAsync(CancellationToken.None);

        Assert.True(protect.IsCompletedSuccessfully);
        Assert.True(unprotect.IsCompletedSuccessfully);
        Assert.True(keyId.IsCompletedSuccessfully);
        Assert.True(check.IsCompletedSuccessfully);
    }

    [Fact]
    public async Task FirstUse_ConcurrentCallers_LoadTheRingOnce()
    {
        var source = new HeldSecretSource(new SecretVersion("v1", TestKeys.Base64(TestKeys.New), SecretsTestHost.Start));
        var protector = new TokenProtector(source, Options.Create(new FunctionsAuthOptions()), new FakeTimeProvider(SecretsTestHost.Start), NullLogger<TokenProtector>.Instance);

        var calls = Enumerable.Range(0, 16)
            .Select(_ => protector.ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None).AsTask())
            .ToArray();
        await SecretsTestHost.WaitUntilAsync(() => source.Reads == 1);
        source.Hold.SetResult();
        var ciphertexts = await Task.WhenAll(calls);

        Assert.All(ciphertexts, c => Assert.Equal(TestKeys.IdOf(TestKeys.New), TokenProtector.ReadKeyId(c)));
        Assert.Equal(1, source.Reads);
    }

    [Fact]
    public async Task KeyRotation_NewDataUsesNewKey_OldDataStillDecrypts()
    {
        using var before = TestKeys.HostWithKeys(TestKeys.Old);
        var oldCiphertext = await before.Get<TokenProtector>().ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None);
        using var after = TestKeys.HostWithKeys(TestKeys.New, TestKeys.Old);
        var protector = after.Get<TokenProtector>();

        var newCiphertext = await protector.ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None);

        Assert.Equal(TestKeys.IdOf(TestKeys.Old), TokenProtector.ReadKeyId(oldCiphertext));
        Assert.Equal(TestKeys.IdOf(TestKeys.New), TokenProtector.ReadKeyId(newCiphertext));
        Assert.Equal(TestKeys.RefreshToken, await protector.UnprotectAsync(oldCiphertext, TestKeys.Purpose, CancellationToken.None));
        Assert.Equal(TestKeys.RefreshToken, await protector.UnprotectAsync(newCiphertext, TestKeys.Purpose, CancellationToken.None));
    }

    [Fact]
    public async Task Unprotect_UnknownKey_ReloadsRingAndSucceedsWhenSourceNowHasIt()
    {
        using var host = TestKeys.HostWithKeys(TestKeys.Old);
        var protector = host.Get<TokenProtector>();
        await protector.GetCurrentKeyIdAsync(CancellationToken.None);
        using var otherInstance = TestKeys.HostWithKeys(TestKeys.New, TestKeys.Old);
        var ciphertext = await otherInstance.Get<TokenProtector>().ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None);

        host.Set(TestKeys.Setting, TestKeys.Ring(TestKeys.New, TestKeys.Old));
        var plaintext = await protector.UnprotectAsync(ciphertext, TestKeys.Purpose, CancellationToken.None);

        Assert.Equal(TestKeys.RefreshToken, plaintext);
        Assert.Equal(TestKeys.IdOf(TestKeys.New), await protector.GetCurrentKeyIdAsync(CancellationToken.None));
        Assert.Contains(host.Logs.GetSnapshot(), r => r.Id.Id == 1102);
    }

    [Theory]
    [InlineData(16)]
    [InlineData(33)]
    [InlineData(-1)]
    public async Task Load_ValueNotBase64Of32Bytes_FailsNamingSecretAndVersionNotValue(int length)
    {
        var value = length < 0 ? "not-base64-key-material!" : Convert.ToBase64String(new byte[length]);
        using var host = SecretsTestHost.Create([new(TestKeys.Setting, value)]);

        var failure = await Assert.ThrowsAsync<InvalidProtectionKeyException>(
            () => host.Get<TokenProtector>().ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None).AsTask());

        Assert.Equal(TestKeys.SecretName, failure.SecretName);
        Assert.Contains(TestKeys.SecretName, failure.Message, StringComparison.Ordinal);
        Assert.Contains("config-0", failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(value, failure.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Protect_NoKeyConfigured_ThrowsSecretNotFound()
    {
        using var host = SecretsTestHost.Create([]);

        var failure = await Assert.ThrowsAsync<SecretNotFoundException>(
            () => host.Get<TokenProtector>().ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None).AsTask());

        Assert.Equal(TestKeys.SecretName, failure.SecretName);
    }

    /// <summary>A key ring whose every read waits for <see cref="Hold"/>, counting the reads.</summary>
    private sealed class HeldSecretSource(params SecretVersion[] versions) : ISecretSource
    {
        private int _reads;

        public TaskCompletionSource Hold { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Reads => Volatile.Read(ref _reads);

        public string Kind => "Configuration";

        public ValueTask<string> GetSecretAsync(string name, bool refresh, CancellationToken cancellationToken) =>
            throw new NotSupportedException("The protector reads versions only.");

        public async ValueTask<IReadOnlyList<SecretVersion>> GetSecretVersionsAsync(string name, bool refresh, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _reads);
            await Hold.Task;
            return versions;
        }
    }
}
