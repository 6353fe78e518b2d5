using System.Net;
using Azure;
using FunctionsAuth.Protection;
using FunctionsAuth.Secrets;
using FunctionsAuth.Tests.Secrets;

namespace FunctionsAuth.Tests.Protection;

/// <summary>The key ring from Key Vault (the real SecretClient on <see cref="FakeKeyVault"/>): rotation, reloads, outages.</summary>
public sealed class TokenProtectorKeyVaultTests
{
    private static readonly TimeSpan CacheDuration = TimeSpan.FromMinutes(5);

    private readonly FakeKeyVault _vault = new();

    [Fact]
    public async Task KeyId_SameKeyInKeyVaultAndConfiguration_IsTheSame_AndCiphertextsInterchange()
    {
        _vault.AddVersion(TestKeys.SecretName, TestKeys.Base64(TestKeys.New), SecretsTestHost.Start.AddDays(-1));
        using var fromVault = SecretsTestHost.Create([], _vault);
        using var fromConfiguration = TestKeys.HostWithKeys(TestKeys.New);

        var ciphertext = await fromConfiguration.Get<TokenProtector>().ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None);

        Assert.Equal(TestKeys.IdOf(TestKeys.New), await fromVault.Get<TokenProtector>().GetCurrentKeyIdAsync(CancellationToken.None));
        Assert.Equal(TestKeys.RefreshToken, await fromVault.Get<TokenProtector>().UnprotectAsync(ciphertext, TestKeys.Purpose, CancellationToken.None));
    }

    [Fact]
    public async Task Unprotect_KeyAddedByAnotherInstance_ReloadsRingAndSucceeds()
    {
        _vault.AddVersion(TestKeys.SecretName, TestKeys.Base64(TestKeys.Old), SecretsTestHost.Start.AddDays(-30));
        using var host = SecretsTestHost.Create([], _vault);
        var protector = host.Get<TokenProtector>();
        await protector.GetCurrentKeyIdAsync(CancellationToken.None);

        _vault.AddVersion(TestKeys.SecretName, TestKeys.Base64(TestKeys.New), SecretsTestHost.Start);
        using var otherInstance = SecretsTestHost.Create([], _vault);
        var ciphertext = await otherInstance.Get<TokenProtector>().ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None);
        var plaintext = await protector.UnprotectAsync(ciphertext, TestKeys.Purpose, CancellationToken.None);

        Assert.Equal(TestKeys.IdOf(TestKeys.New), TokenProtector.ReadKeyId(ciphertext));
        Assert.Equal(TestKeys.RefreshToken, plaintext);
    }

    [Fact]
    public async Task Unprotect_UnknownKeyAgainWithinAMinute_DoesNotCallKeyVaultAgain()
    {
        _vault.AddVersion(TestKeys.SecretName, TestKeys.Base64(TestKeys.New), SecretsTestHost.Start.AddDays(-1));
        using var host = SecretsTestHost.Create([], _vault);
        var protector = host.Get<TokenProtector>();
        await protector.GetCurrentKeyIdAsync(CancellationToken.None);
        using var stranger = TestKeys.HostWithKeys(TestKeys.Stranger);
        var foreign = await stranger.Get<TokenProtector>().ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None);

        var beforeFirst = _vault.RequestCount;
        var first = await Assert.ThrowsAsync<TokenProtectionException>(() => protector.UnprotectAsync(foreign, TestKeys.Purpose, CancellationToken.None).AsTask());
        var afterFirst = _vault.RequestCount;
        host.Time.Advance(TimeSpan.FromSeconds(59));
        var second = await Assert.ThrowsAsync<TokenProtectionException>(() => protector.UnprotectAsync(foreign, TestKeys.Purpose, CancellationToken.None).AsTask());
        var afterSecond = _vault.RequestCount;
        host.Time.Advance(TimeSpan.FromSeconds(1));
        await Assert.ThrowsAsync<TokenProtectionException>(() => protector.UnprotectAsync(foreign, TestKeys.Purpose, CancellationToken.None).AsTask());

        Assert.Equal(TokenProtectionFailure.UnknownKey, first.Failure);
        Assert.Equal(TokenProtectionFailure.UnknownKey, second.Failure);
        Assert.True(afterFirst > beforeFirst);
        Assert.Equal(afterFirst, afterSecond);
        Assert.True(_vault.RequestCount > afterSecond);
    }

    [Fact]
    public async Task Ring_AfterCacheDuration_IsRefreshedInTheBackgroundAndPicksUpTheNewKey()
    {
        _vault.AddVersion(TestKeys.SecretName, TestKeys.Base64(TestKeys.Old), SecretsTestHost.Start.AddDays(-30));
        using var host = SecretsTestHost.Create([], _vault);
        var protector = host.Get<TokenProtector>();
        await protector.GetCurrentKeyIdAsync(CancellationToken.None);
        _vault.AddVersion(TestKeys.SecretName, TestKeys.Base64(TestKeys.New), SecretsTestHost.Start);

        host.Time.Advance(CacheDuration - TimeSpan.FromSeconds(1));
        Assert.Equal(TestKeys.IdOf(TestKeys.Old), await protector.GetCurrentKeyIdAsync(CancellationToken.None));
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _vault.Hold = hold;
        var requestsBeforeRefresh = _vault.RequestCount;
        host.Time.Advance(TimeSpan.FromSeconds(1));
        var stale = protector.GetCurrentKeyIdAsync(CancellationToken.None);
        await SecretsTestHost.WaitUntilAsync(() => _vault.RequestCount > requestsBeforeRefresh);
        var whileRefreshing = protector.GetCurrentKeyIdAsync(CancellationToken.None);
        hold.SetResult();

        Assert.True(stale.IsCompletedSuccessfully);
        Assert.True(whileRefreshing.IsCompletedSuccessfully);
        Assert.Equal(TestKeys.IdOf(TestKeys.Old), await stale);
        Assert.Equal(TestKeys.IdOf(TestKeys.Old), await whileRefreshing);
        await SecretsTestHost.WaitUntilAsync(async () => await protector.GetCurrentKeyIdAsync(CancellationToken.None) == TestKeys.IdOf(TestKeys.New));
    }

    [Fact]
    public async Task Unprotect_KeyDisabledInKeyVault_StillWorksUntilTheCacheExpires_ThenFails()
    {
        var oldVersion = _vault.AddVersion(TestKeys.SecretName, TestKeys.Base64(TestKeys.Old), SecretsTestHost.Start.AddDays(-30));
        _vault.AddVersion(TestKeys.SecretName, TestKeys.Base64(TestKeys.New), SecretsTestHost.Start.AddDays(-1));
        using var host = SecretsTestHost.Create([], _vault);
        var protector = host.Get<TokenProtector>();
        using var before = TestKeys.HostWithKeys(TestKeys.Old);
        var oldCiphertext = await before.Get<TokenProtector>().ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None);
        Assert.Equal(TestKeys.RefreshToken, await protector.UnprotectAsync(oldCiphertext, TestKeys.Purpose, CancellationToken.None));

        _vault.Disable(TestKeys.SecretName, oldVersion);
        host.Time.Advance(CacheDuration - TimeSpan.FromSeconds(1));
        Assert.Equal(TestKeys.RefreshToken, await protector.UnprotectAsync(oldCiphertext, TestKeys.Purpose, CancellationToken.None));
        host.Time.Advance(TimeSpan.FromSeconds(1));
        await protector.CheckAsync(CancellationToken.None);
        var failure = await Assert.ThrowsAsync<TokenProtectionException>(() => protector.UnprotectAsync(oldCiphertext, TestKeys.Purpose, CancellationToken.None).AsTask());

        Assert.Equal(TokenProtectionFailure.UnknownKey, failure.Failure);
    }

    [Fact]
    public async Task Refresh_WhenKeyVaultFails_KeepsCurrentRing_AndHealthCheckFailsUntilItRecovers()
    {
        _vault.AddVersion(TestKeys.SecretName, TestKeys.Base64(TestKeys.New), SecretsTestHost.Start.AddDays(-1));
        using var host = SecretsTestHost.Create([], _vault);
        var protector = host.Get<TokenProtector>();
        await protector.CheckAsync(CancellationToken.None);

        _vault.FailWith = HttpStatusCode.ServiceUnavailable;
        host.Time.Advance(CacheDuration);
        var duringOutage = protector.ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None);
        await SecretsTestHost.WaitUntilAsync(() => host.Logs.GetSnapshot().Any(r => r.Id.Id == 1101));
        var healthDuringOutage = await Assert.ThrowsAsync<SecretsUnavailableException>(() => protector.CheckAsync(CancellationToken.None).AsTask());
        var stillWorking = await protector.ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None);
        _vault.FailWith = null;
        await protector.CheckAsync(CancellationToken.None);

        Assert.True(duringOutage.IsCompletedSuccessfully);
        Assert.Equal(TestKeys.IdOf(TestKeys.New), TokenProtector.ReadKeyId(stillWorking));
        Assert.Equal("http_503", healthDuringOutage.Failure);
        Assert.True(protector.CheckAsync(CancellationToken.None).IsCompletedSuccessfully);
    }

    [Fact]
    public async Task FirstUse_KeyVaultUnreachable_ThrowsTheInfrastructureFailure()
    {
        _vault.AddVersion(TestKeys.SecretName, TestKeys.Base64(TestKeys.New), SecretsTestHost.Start.AddDays(-1));
        _vault.FailWith = HttpStatusCode.ServiceUnavailable;
        using var host = SecretsTestHost.Create([], _vault);
        var protector = host.Get<TokenProtector>();

        await Assert.ThrowsAsync<SecretsUnavailableException>(() => protector.CheckAsync(CancellationToken.None).AsTask());
        await Assert.ThrowsAsync<SecretsUnavailableException>(() => protector.ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None).AsTask());
        _vault.FailWith = null;

        Assert.NotEmpty(await protector.ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None));
    }

    [Fact]
    public async Task CheckAsync_FreshRing_MakesNoCall()
    {
        _vault.AddVersion(TestKeys.SecretName, TestKeys.Base64(TestKeys.New), SecretsTestHost.Start.AddDays(-1));
        using var host = SecretsTestHost.Create([], _vault);
        var protector = host.Get<TokenProtector>();
        await protector.CheckAsync(CancellationToken.None);
        var afterLoad = _vault.RequestCount;

        host.Time.Advance(CacheDuration - TimeSpan.FromSeconds(1));
        await protector.CheckAsync(CancellationToken.None);

        Assert.Equal(afterLoad, _vault.RequestCount);
    }

    [Fact]
    public async Task EncryptionKeyPastItsExp_StopsEncrypting_ButWhatItProtectedStillDecrypts()
    {
        _vault.AddVersion(TestKeys.SecretName, TestKeys.Base64(TestKeys.New), SecretsTestHost.Start.AddDays(-1), expiresOn: SecretsTestHost.Start.AddDays(1));
        using var host = SecretsTestHost.Create([], _vault);
        var protector = host.Get<TokenProtector>();
        var ciphertext = await protector.ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None);

        host.Time.Advance(TimeSpan.FromDays(2));
        await Assert.ThrowsAnyAsync<Exception>(() => protector.CheckAsync(CancellationToken.None).AsTask());

        Assert.Equal(TestKeys.RefreshToken, await protector.UnprotectAsync(ciphertext, TestKeys.Purpose, CancellationToken.None));
        var refused = await Assert.ThrowsAsync<SecretsUnavailableException>(() => protector.ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None).AsTask());
        Assert.Equal("key_expired", refused.Failure);
        Assert.Contains(host.Logs.GetSnapshot(), r => r.Id.Id == 1106 && r.Level == Microsoft.Extensions.Logging.LogLevel.Error);
    }

    [Fact]
    public async Task NewVersionAdded_BeforeTheOldOnesExp_EncryptsWithTheNew_AndTheExpiredOneStillDecrypts()
    {
        _vault.AddVersion(TestKeys.SecretName, TestKeys.Base64(TestKeys.Old), SecretsTestHost.Start.AddDays(-30), expiresOn: SecretsTestHost.Start.AddDays(1));
        using var host = SecretsTestHost.Create([], _vault);
        var protector = host.Get<TokenProtector>();
        var underOld = await protector.ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None);

        _vault.AddVersion(TestKeys.SecretName, TestKeys.Base64(TestKeys.New), SecretsTestHost.Start);
        host.Time.Advance(TimeSpan.FromDays(2));
        await protector.CheckAsync(CancellationToken.None);

        Assert.Equal(TestKeys.IdOf(TestKeys.New), await protector.GetCurrentKeyIdAsync(CancellationToken.None));
        Assert.Equal(TestKeys.IdOf(TestKeys.New), TokenProtector.ReadKeyId(await protector.ProtectAsync(TestKeys.RefreshToken, TestKeys.Purpose, CancellationToken.None)));
        Assert.Equal(TestKeys.RefreshToken, await protector.UnprotectAsync(underOld, TestKeys.Purpose, CancellationToken.None));
    }

    [Theory]
    [InlineData(10, true)]
    [InlineData(29, true)]
    [InlineData(31, false)]
    public async Task Load_EncryptionKeyWithExp_WarnsWithinThirtyDaysOfIt(int daysLeft, bool warned)
    {
        _vault.AddVersion(TestKeys.SecretName, TestKeys.Base64(TestKeys.New), SecretsTestHost.Start.AddDays(-1), expiresOn: SecretsTestHost.Start.AddDays(daysLeft));
        using var host = SecretsTestHost.Create([], _vault);

        await host.Get<TokenProtector>().GetCurrentKeyIdAsync(CancellationToken.None);

        Assert.Equal(warned, host.Logs.GetSnapshot().Any(r => r.Id.Id == 1105 && r.Level == Microsoft.Extensions.Logging.LogLevel.Warning));
    }
}
