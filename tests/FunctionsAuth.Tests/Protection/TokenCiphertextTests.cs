using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using FunctionsAuth.Protection;

namespace FunctionsAuth.Tests.Protection;

/// <summary>The ciphertext format on its own: no key loading, no host. Expected bytes are computed here, independently of the code under test.</summary>
public sealed class TokenCiphertextTests
{
    private static readonly TokenContext TheContext = TestKeys.Context(TestKeys.SessionKey, "refresh_token", provider: "demo", generation: 7);

    [Fact]
    public void Seal_Format2_IsAesGcmUnderTheSessionSubkey_WithTheWholeContextAsAssociatedData()
    {
        using var key = ProtectionKey.FromBase64(TestKeys.SecretName, "v1", TestKeys.Base64(TestKeys.New));
        var nonce = Enumerable.Range(1, 12).Select(i => (byte)i).ToArray();

        var sealedBytes = TokenCiphertext.Seal(key, TestKeys.RefreshToken, TheContext, nonce);

        var header = sealedBytes[..9];
        Assert.Equal(0x02, header[0]);
        Assert.Equal(TestKeys.IdOf(TestKeys.New), Convert.ToHexStringLower(header, 1, 8));
        Assert.Equal(nonce, sealedBytes[9..21]);
        var subkey = HKDF.DeriveKey(HashAlgorithmName.SHA256, TestKeys.New, 32, salt: [], info: [.. "FunctionsAuth token subkey v2"u8, .. Prefixed("sessions"), .. Prefixed(TestKeys.SessionKey)]);
        byte[] associatedData = [.. header, .. Prefixed("sessions"), .. Prefixed(TestKeys.SessionKey), .. Prefixed("refresh_token"), .. Prefixed("demo"), .. BigEndian(7)];
        var plaintext = new byte[sealedBytes.Length - 9 - 12 - 16];
        using var aes = new AesGcm(subkey, 16);
        aes.Decrypt(nonce, sealedBytes.AsSpan(21, plaintext.Length), sealedBytes.AsSpan(^16), plaintext, associatedData);
        Assert.Equal(TestKeys.RefreshToken, Encoding.UTF8.GetString(plaintext));
    }

    [Fact]
    public void Seal_DoesNotEncryptUnderTheRingKeyItself()
    {
        using var key = ProtectionKey.FromBase64(TestKeys.SecretName, "v1", TestKeys.Base64(TestKeys.New));
        var sealedBytes = TokenCiphertext.Seal(key, TestKeys.RefreshToken, TheContext);
        byte[] associatedData = [.. sealedBytes[..9], .. Prefixed("sessions"), .. Prefixed(TestKeys.SessionKey), .. Prefixed("refresh_token"), .. Prefixed("demo"), .. BigEndian(7)];
        var plaintext = new byte[sealedBytes.Length - 37];
        using var aes = new AesGcm(TestKeys.New, 16);

        Assert.ThrowsAny<CryptographicException>(() => aes.Decrypt(sealedBytes.AsSpan(9, 12), sealedBytes.AsSpan(21, plaintext.Length), sealedBytes.AsSpan(^16), plaintext, associatedData));
    }

    public static TheoryData<string, TokenContext> OtherContexts => new()
    {
        { "older generation (a row rolled back to an earlier ciphertext)", TheContext with { Generation = 6 } },
        { "newer generation", TheContext with { Generation = 8 } },
        { "another provider (a relabelled row)", TheContext with { Provider = "other-idp" } },
        { "another field", TheContext with { Field = "access_token" } },
        { "another row", TheContext with { SessionKey = "0000aaaa" } },
        { "another table", TheContext with { Table = "sessions2" } },
        { "same bytes, other split of provider and field", TheContext with { Field = "refresh_tokend", Provider = "emo" } },
    };

    [Theory]
    [MemberData(nameof(OtherContexts))]
    public void Open_UnderAnotherContext_FailsWithTagMismatch(string why, TokenContext other)
    {
        using var key = ProtectionKey.FromBase64(TestKeys.SecretName, "v1", TestKeys.Base64(TestKeys.New));
        var sealedBytes = TokenCiphertext.Seal(key, TestKeys.RefreshToken, TheContext);

        var failure = Assert.Throws<TokenProtectionException>(() => TokenCiphertext.Open(key, sealedBytes, other));

        Assert.True(failure.Failure == TokenProtectionFailure.TagMismatch, why);
        Assert.Equal(TestKeys.RefreshToken, TokenCiphertext.Open(key, sealedBytes, TheContext));
    }

    [Fact]
    public void Open_Format1WrittenBeforeFormat2_StillDecrypts_BoundToTableRowAndFieldOnly()
    {
        using var key = ProtectionKey.FromBase64(TestKeys.SecretName, "v1", TestKeys.Base64(TestKeys.New));
        var legacy = TestKeys.Format1Ciphertext(TestKeys.New, TestKeys.RefreshToken, $"sessions/{TestKeys.SessionKey}/refresh_token");

        Assert.Equal(TestKeys.RefreshToken, TokenCiphertext.Open(key, legacy, TheContext));
        Assert.Equal(TestKeys.RefreshToken, TokenCiphertext.Open(key, legacy, TheContext with { Generation = 0, Provider = "x" }));
        Assert.Equal(TokenProtectionFailure.TagMismatch, Assert.Throws<TokenProtectionException>(() => TokenCiphertext.Open(key, legacy, TheContext with { Field = "access_token" })).Failure);
        Assert.True(TokenCiphertext.TryReadHeader(legacy, out var format, out _));
        Assert.Equal(TokenCiphertext.LegacyFormat, format);
    }

    [Theory]
    [InlineData(0x00)]
    [InlineData(0x03)]
    [InlineData(0xFF)]
    public void Open_UnknownFormat_FailsAsMalformed(byte format)
    {
        using var key = ProtectionKey.FromBase64(TestKeys.SecretName, "v1", TestKeys.Base64(TestKeys.New));
        var sealedBytes = TokenCiphertext.Seal(key, TestKeys.RefreshToken, TheContext);
        sealedBytes[0] = format;

        Assert.Equal(TokenProtectionFailure.MalformedCiphertext, Assert.Throws<TokenProtectionException>(() => TokenCiphertext.Open(key, sealedBytes, TheContext)).Failure);
        Assert.False(TokenCiphertext.TryReadHeader(sealedBytes, out _, out _));
    }

    [Fact]
    public void Seal_TwoSessions_GetDifferentSubkeys_SoOneSessionsCiphertextNeverOpensAnother()
    {
        using var key = ProtectionKey.FromBase64(TestKeys.SecretName, "v1", TestKeys.Base64(TestKeys.New));
        var nonce = new byte[12];
        var first = TokenCiphertext.Seal(key, TestKeys.RefreshToken, TheContext, nonce);
        var second = TokenCiphertext.Seal(key, TestKeys.RefreshToken, TheContext with { SessionKey = "1111" }, nonce);

        // Same key, nonce and plaintext: under one AES key the keystreams would be equal.
        Assert.NotEqual(first.AsSpan(21, 8).ToArray(), second.AsSpan(21, 8).ToArray());
    }

    private static byte[] Prefixed(string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        var length = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, bytes.Length);
        return [.. length, .. bytes];
    }

    private static byte[] BigEndian(long value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(bytes, value);
        return bytes;
    }
}
