using System.Security.Cryptography;
using FunctionsAuth.Protection;
using FunctionsAuth.Secrets;

namespace FunctionsAuth.Tests.Protection;

public sealed class KeyRingTests
{
    [Fact]
    public void Create_SameKeyUnderTwoVersions_KeepsItOnce()
    {
        var ring = KeyRing.Create(TestKeys.SecretName,
        [
            new SecretVersion("v3", TestKeys.Base64(TestKeys.New), null),
            new SecretVersion("v2", TestKeys.Base64(TestKeys.New), null),
            new SecretVersion("v1", TestKeys.Base64(TestKeys.Old), null),
        ]);

        Assert.Equal(2, ring.Count);
        Assert.Equal("v3", ring.Newest.Version);
        Assert.Equal(TestKeys.IdOf(TestKeys.New), ring.Newest.IdText);
    }

    [Fact]
    public void Release_ByOwnerWhileInUse_KeepsRingUntilLastUserReleases()
    {
        var ring = KeyRing.Create(TestKeys.SecretName, [new SecretVersion("v1", TestKeys.Base64(TestKeys.New), null)]);
        Assert.True(ring.TryAcquire());

        ring.Release();
        Assert.True(EncryptsWith(ring.Newest, TestKeys.New));
        ring.Release();

        Assert.False(ring.TryAcquire());
    }

    private static bool EncryptsWith(ProtectionKey key, byte[] expectedKey)
    {
        byte[] nonce = new byte[12], plaintext = [1, 2, 3], ciphertext = new byte[3], tag = new byte[16], decrypted = new byte[3];
        var aes = key.Rent();
        aes.Encrypt(nonce, plaintext, ciphertext, tag);
        key.Return(aes);
        using var reference = new AesGcm(expectedKey, 16);
        reference.Decrypt(nonce, ciphertext, tag, decrypted);
        return decrypted.AsSpan().SequenceEqual(plaintext);
    }
}
