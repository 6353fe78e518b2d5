using System.Net;
using FunctionsAuth.Configuration;
using FunctionsAuth.Secrets;
using FunctionsAuth.Tests.OAuth;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Microsoft.IdentityModel.Tokens;

namespace FunctionsAuth.Tests.Secrets;

/// <summary>The client certificate read through the real CertificateClient (certificate, then its secret) from the fake vault.</summary>
public sealed class KeyVaultCertificateSourceTests
{
    private const string Name = "client-certificate";
    private static readonly TimeSpan CacheDuration = TimeSpan.FromMinutes(5);

    private readonly FakeKeyVault _vault = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2025, 11, 20, 9, 0, 0, TimeSpan.Zero));
    private readonly FakeLogCollector _logs = new();

    [Fact]
    public async Task Get_ReadsTheCertificateWithItsPrivateKey_AndSignsWithIt()
    {
        _vault.AddCertificate(Name, ClientAuthenticationTestKeys.Registered, _time.GetUtcNow().AddDays(-1));

        var credentials = await CreateSource().GetSigningCredentialsAsync(Name, refresh: false, CancellationToken.None);

        var key = Assert.IsType<X509SecurityKey>(credentials.Key);
        Assert.Equal(ClientAuthenticationTestKeys.Registered.Thumbprint, key.Certificate.Thumbprint);
        Assert.True(key.Certificate.HasPrivateKey);
        Assert.Equal(SecurityAlgorithms.RsaSha256, credentials.Algorithm);

        // Certificate, then the secret holding its key: two authenticated reads behind one challenge.
        Assert.Equal(2, _vault.RequestCount);
        Assert.Equal(["https://vault.azure.net/.default"], _vault.Credential.LastRequest!.Value.Scopes);
    }

    [Fact]
    public async Task Get_WithinTheCacheDuration_DoesNotCallTheVault()
    {
        _vault.AddCertificate(Name, ClientAuthenticationTestKeys.Registered, _time.GetUtcNow().AddDays(-1));
        var source = CreateSource();
        await source.GetSigningCredentialsAsync(Name, refresh: false, CancellationToken.None);

        _time.Advance(CacheDuration - TimeSpan.FromSeconds(1));
        await source.GetSigningCredentialsAsync(Name, refresh: false, CancellationToken.None);

        Assert.Equal(2, _vault.RequestCount);
    }

    [Fact]
    public async Task Get_Refresh_PicksUpARotatedVersionAtOnce()
    {
        _vault.AddCertificate(Name, ClientAuthenticationTestKeys.Unregistered, _time.GetUtcNow().AddDays(-30));
        var source = CreateSource();
        var before = await source.GetSigningCredentialsAsync(Name, refresh: false, CancellationToken.None);
        _vault.AddCertificate(Name, ClientAuthenticationTestKeys.Registered, _time.GetUtcNow());

        var cached = await source.GetSigningCredentialsAsync(Name, refresh: false, CancellationToken.None);
        var reloaded = await source.GetSigningCredentialsAsync(Name, refresh: true, CancellationToken.None);

        Assert.Same(before, cached);
        Assert.Equal(ClientAuthenticationTestKeys.Registered.Thumbprint, ((X509SecurityKey)reloaded.Key).Certificate.Thumbprint);
    }

    [Fact]
    public async Task Get_AfterTheCacheDuration_SeesARotatedVersion()
    {
        _vault.AddCertificate(Name, ClientAuthenticationTestKeys.Unregistered, _time.GetUtcNow().AddDays(-30));
        var source = CreateSource();
        await source.GetSigningCredentialsAsync(Name, refresh: false, CancellationToken.None);
        _vault.AddCertificate(Name, ClientAuthenticationTestKeys.Registered, _time.GetUtcNow());

        _time.Advance(CacheDuration);
        var current = await source.GetSigningCredentialsAsync(Name, refresh: false, CancellationToken.None);

        Assert.Equal(ClientAuthenticationTestKeys.Registered.Thumbprint, ((X509SecurityKey)current.Key).Certificate.Thumbprint);
    }

    [Fact]
    public async Task Get_UnknownCertificate_IsSecretNotFound()
    {
        var thrown = await Assert.ThrowsAsync<SecretNotFoundException>(() => CreateSource().GetSigningCredentialsAsync(Name, refresh: false, CancellationToken.None).AsTask());

        Assert.Equal(Name, thrown.SecretName);
    }

    [Fact]
    public async Task Get_SecretWithoutThePrivateKey_IsAnUnusableCertificate_NamedWithoutKeyMaterial()
    {
        _vault.AddCertificate(Name, ClientAuthenticationTestKeys.Registered, _time.GetUtcNow().AddDays(-1), withPrivateKey: false);

        var thrown = await Assert.ThrowsAsync<InvalidClientCertificateException>(() => CreateSource().GetSigningCredentialsAsync(Name, refresh: false, CancellationToken.None).AsTask());

        Assert.Contains(Name, thrown.Message);
        Assert.Contains("private key", thrown.Message);
        Assert.DoesNotContain("BEGIN", thrown.Message);
        Assert.Contains(_logs.GetSnapshot(), r => r.Id.Id == 1005);
    }

    [Fact]
    public async Task Get_VaultDown_IsSecretsUnavailable_AndTheNextCallTriesAgain()
    {
        _vault.AddCertificate(Name, ClientAuthenticationTestKeys.Registered, _time.GetUtcNow().AddDays(-1));
        var source = CreateSource();
        _vault.FailWith = HttpStatusCode.ServiceUnavailable;

        var thrown = await Assert.ThrowsAsync<SecretsUnavailableException>(() => source.GetSigningCredentialsAsync(Name, refresh: false, CancellationToken.None).AsTask());
        _vault.FailWith = null;
        var credentials = await source.GetSigningCredentialsAsync(Name, refresh: false, CancellationToken.None);

        Assert.Equal("http_503", thrown.Failure);
        Assert.IsType<X509SecurityKey>(credentials.Key);
    }

    private KeyVaultCertificateSource CreateSource() =>
        new(
            _vault.CreateCertificateClient(),
            Options.Create(new FunctionsAuthOptions { KeyVaultUri = _vault.VaultUri, SecretCacheDuration = CacheDuration }),
            _time,
            new FakeLogger<KeyVaultCertificateSource>(_logs));
}
