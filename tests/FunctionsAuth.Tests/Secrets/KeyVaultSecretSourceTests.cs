using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Net;
using Azure;
using FunctionsAuth.Configuration;
using FunctionsAuth.Secrets;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace FunctionsAuth.Tests.Secrets;

public sealed class KeyVaultSecretSourceTests
{
    private const string ClientSecretName = "google-client-secret";
    private static readonly TimeSpan CacheDuration = TimeSpan.FromMinutes(5);

    private readonly FakeKeyVault _vault = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2025, 11, 20, 9, 0, 0, TimeSpan.Zero));
    private readonly FakeLogCollector _logs = new();

    [Fact]
    public async Task GetSecret_ReadsCurrentValueThroughTheChallenge()
    {
        _vault.AddVersion(ClientSecretName, "old-client-secret", _time.GetUtcNow().AddDays(-30));
        _vault.AddVersion(ClientSecretName, "current-client-secret", _time.GetUtcNow().AddDays(-1));

        var value = await CreateSource().GetSecretAsync(ClientSecretName, refresh: false, CancellationToken.None);

        Assert.Equal("current-client-secret", value);
        Assert.Equal(1, _vault.ChallengeCount);
        Assert.Equal(1, _vault.RequestCount);
        var tokenRequest = Assert.NotNull(_vault.Credential.LastRequest);
        Assert.Equal(["https://vault.azure.net/.default"], tokenRequest.Scopes);
        Assert.Equal(FakeKeyVault.TenantId, tokenRequest.TenantId);
    }

    [Fact]
    public async Task GetSecret_SecondRead_IsServedFromCacheWithoutACall()
    {
        _vault.AddVersion(ClientSecretName, "client-secret", _time.GetUtcNow().AddDays(-1));
        var source = CreateSource();
        await source.GetSecretAsync(ClientSecretName, refresh: false, CancellationToken.None);

        _time.Advance(CacheDuration - TimeSpan.FromSeconds(1));
        var cached = source.GetSecretAsync(ClientSecretName, refresh: false, CancellationToken.None);

        Assert.True(cached.IsCompletedSuccessfully);
        Assert.Equal("client-secret", await cached);
        Assert.Equal(1, _vault.RequestCount);
    }

    [Fact]
    public async Task GetSecret_AfterCacheDuration_ReadsAgain()
    {
        _vault.AddVersion(ClientSecretName, "client-secret", _time.GetUtcNow().AddDays(-1));
        var source = CreateSource();
        await source.GetSecretAsync(ClientSecretName, refresh: false, CancellationToken.None);
        _vault.AddVersion(ClientSecretName, "rotated-client-secret", _time.GetUtcNow());

        _time.Advance(CacheDuration);
        var value = await source.GetSecretAsync(ClientSecretName, refresh: false, CancellationToken.None);

        Assert.Equal("rotated-client-secret", value);
        Assert.Equal(2, _vault.RequestCount);
    }

    [Fact]
    public async Task GetSecret_Refresh_BypassesCacheAndSeesRotatedValue()
    {
        _vault.AddVersion(ClientSecretName, "client-secret", _time.GetUtcNow().AddDays(-1));
        var source = CreateSource();
        await source.GetSecretAsync(ClientSecretName, refresh: false, CancellationToken.None);
        _vault.AddVersion(ClientSecretName, "rotated-client-secret", _time.GetUtcNow());

        var refreshed = await source.GetSecretAsync(ClientSecretName, refresh: true, CancellationToken.None);
        var cachedAfterwards = await source.GetSecretAsync(ClientSecretName, refresh: false, CancellationToken.None);

        Assert.Equal("rotated-client-secret", refreshed);
        Assert.Equal("rotated-client-secret", cachedAfterwards);
        Assert.Equal(2, _vault.RequestCount);
    }

    [Fact]
    public async Task GetSecret_ConcurrentMisses_ShareOneCall()
    {
        _vault.AddVersion(ClientSecretName, "client-secret", _time.GetUtcNow().AddDays(-1));
        var source = CreateSource();
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _vault.Hold = hold;

        var reads = Enumerable.Range(0, 16)
            .Select(_ => source.GetSecretAsync(ClientSecretName, refresh: false, CancellationToken.None).AsTask())
            .ToArray();
        await SecretsTestHost.WaitUntilAsync(() => _vault.RequestCount == 1);
        hold.SetResult();
        var values = await Task.WhenAll(reads);

        Assert.All(values, v => Assert.Equal("client-secret", v));
        Assert.Equal(1, _vault.RequestCount);
    }

    [Fact]
    public async Task GetSecret_CallerCancels_OthersStillGetTheSharedLoad()
    {
        _vault.AddVersion(ClientSecretName, "client-secret", _time.GetUtcNow().AddDays(-1));
        var source = CreateSource();
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _vault.Hold = hold;
        using var cancellation = new CancellationTokenSource();

        var cancelled = source.GetSecretAsync(ClientSecretName, refresh: false, cancellation.Token).AsTask();
        var patient = source.GetSecretAsync(ClientSecretName, refresh: false, CancellationToken.None).AsTask();
        await cancellation.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        hold.SetResult();

        Assert.Equal("client-secret", await patient);
        Assert.Equal(1, _vault.RequestCount);
    }

    [Fact]
    public async Task GetSecret_FailedLoad_IsNotCached()
    {
        _vault.AddVersion(ClientSecretName, "client-secret", _time.GetUtcNow().AddDays(-1));
        var source = CreateSource();
        _vault.FailWith = HttpStatusCode.ServiceUnavailable;

        var failure = await Assert.ThrowsAsync<SecretsUnavailableException>(
            () => source.GetSecretAsync(ClientSecretName, refresh: false, CancellationToken.None).AsTask());
        _vault.FailWith = null;
        var value = await source.GetSecretAsync(ClientSecretName, refresh: false, CancellationToken.None);

        Assert.Equal("http_503", failure.Failure);
        Assert.Equal(503, Assert.IsType<RequestFailedException>(failure.InnerException).Status);
        Assert.Equal("client-secret", value);
    }

    [Fact]
    public async Task GetSecret_FailedRefresh_DropsTheValueItWasToReplace()
    {
        _vault.AddVersion(ClientSecretName, "client-secret", _time.GetUtcNow().AddDays(-1));
        var source = CreateSource();
        await source.GetSecretAsync(ClientSecretName, refresh: false, CancellationToken.None);
        _vault.FailWith = HttpStatusCode.ServiceUnavailable;

        await Assert.ThrowsAsync<SecretsUnavailableException>(
            () => source.GetSecretAsync(ClientSecretName, refresh: true, CancellationToken.None).AsTask());
        _vault.FailWith = null;
        _vault.AddVersion(ClientSecretName, "rotated-client-secret", _time.GetUtcNow());
        var value = await source.GetSecretAsync(ClientSecretName, refresh: false, CancellationToken.None);

        Assert.Equal("rotated-client-secret", value);
    }

    [Fact]
    public async Task GetSecret_ReadDuringARefresh_WaitsForTheRefreshedValue()
    {
        _vault.AddVersion(ClientSecretName, "client-secret", _time.GetUtcNow().AddDays(-1));
        var source = CreateSource();
        await source.GetSecretAsync(ClientSecretName, refresh: false, CancellationToken.None);
        _vault.AddVersion(ClientSecretName, "rotated-client-secret", _time.GetUtcNow());
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _vault.Hold = hold;

        var refreshing = source.GetSecretAsync(ClientSecretName, refresh: true, CancellationToken.None).AsTask();
        var reading = source.GetSecretAsync(ClientSecretName, refresh: false, CancellationToken.None).AsTask();
        await SecretsTestHost.WaitUntilAsync(() => _vault.RequestCount == 2);
        hold.SetResult();

        Assert.Equal(["rotated-client-secret", "rotated-client-secret"], await Task.WhenAll(refreshing, reading));
        Assert.Equal(2, _vault.RequestCount);
    }

    [Fact]
    public async Task GetSecret_MissingSecret_ThrowsSecretNotFoundNamingIt()
    {
        var failure = await Assert.ThrowsAsync<SecretNotFoundException>(
            () => CreateSource().GetSecretAsync("no-such-secret", refresh: false, CancellationToken.None).AsTask());

        Assert.Equal("no-such-secret", failure.SecretName);
        Assert.Contains("no-such-secret", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetSecretVersions_KeepsEnabledAndStarted_ExpiredOnesWithTheirExp_NewestFirst_AcrossPages()
    {
        var now = _time.GetUtcNow();
        var oldest = _vault.AddVersion("token-encryption-key", "oldest", now.AddDays(-90));
        var disabled = _vault.AddVersion("token-encryption-key", "disabled", now.AddDays(-60));
        var middle = _vault.AddVersion("token-encryption-key", "middle", now.AddDays(-30));
        var expired = _vault.AddVersion("token-encryption-key", "expired", now.AddDays(-20), expiresOn: now.AddDays(-1));
        var newest = _vault.AddVersion("token-encryption-key", "newest", now.AddDays(-1));
        _vault.AddVersion("token-encryption-key", "not-yet-valid", now, notBefore: now.AddDays(1));
        _vault.Disable("token-encryption-key", disabled);

        var versions = await CreateSource().GetSecretVersionsAsync("token-encryption-key", refresh: false, CancellationToken.None);

        Assert.Equal([newest, expired, middle, oldest], versions.Select(v => v.Version));
        Assert.Equal(["newest", "expired", "middle", "oldest"], versions.Select(v => v.Value));
        Assert.Equal(now.AddDays(-1).ToUnixTimeSeconds(), versions[0].CreatedOn?.ToUnixTimeSeconds());
        Assert.Equal(now.AddDays(-1).ToUnixTimeSeconds(), versions[1].ExpiresOn?.ToUnixTimeSeconds());
        Assert.Null(versions[0].ExpiresOn);
    }

    [Fact]
    public async Task GetSecretVersions_SecondRead_IsServedFromCache_RefreshReadsAgain()
    {
        _vault.AddVersion("token-encryption-key", "key-1", _time.GetUtcNow().AddDays(-1));
        var source = CreateSource();
        await source.GetSecretVersionsAsync("token-encryption-key", refresh: false, CancellationToken.None);
        var afterFirstLoad = _vault.RequestCount;
        _vault.AddVersion("token-encryption-key", "key-2", _time.GetUtcNow());

        var cached = await source.GetSecretVersionsAsync("token-encryption-key", refresh: false, CancellationToken.None);
        Assert.Equal(afterFirstLoad, _vault.RequestCount);
        var refreshed = await source.GetSecretVersionsAsync("token-encryption-key", refresh: true, CancellationToken.None);

        Assert.Equal(["key-1"], cached.Select(v => v.Value));
        Assert.Equal(["key-2", "key-1"], refreshed.Select(v => v.Value));
    }

    [Fact]
    public async Task GetSecretVersions_MissingSecret_ThrowsSecretNotFoundNamingIt()
    {
        var failure = await Assert.ThrowsAsync<SecretNotFoundException>(
            () => CreateSource().GetSecretVersionsAsync("token-encryption-key", refresh: false, CancellationToken.None).AsTask());

        Assert.Equal("token-encryption-key", failure.SecretName);
    }

    [Fact]
    public async Task GetSecretVersions_OnlyDisabledVersions_ThrowsSecretNotFound()
    {
        var only = _vault.AddVersion("token-encryption-key", "key", _time.GetUtcNow().AddDays(-1));
        _vault.Disable("token-encryption-key", only);

        var failure = await Assert.ThrowsAsync<SecretNotFoundException>(
            () => CreateSource().GetSecretVersionsAsync("token-encryption-key", refresh: false, CancellationToken.None).AsTask());

        Assert.Equal("token-encryption-key", failure.SecretName);
    }

    [Fact]
    public async Task LogsAndExceptions_NeverContainBearerTokenOrSecretValues()
    {
        using var sdkEvents = new AzureSdkEvents();
        _vault.AddVersion(ClientSecretName, "client-secret-value-5b1e", _time.GetUtcNow().AddDays(-1));
        _vault.AddVersion("token-encryption-key", "key-value-9c3f", _time.GetUtcNow().AddDays(-1));
        var source = CreateSource();

        await source.GetSecretAsync(ClientSecretName, refresh: false, CancellationToken.None);
        await source.GetSecretVersionsAsync("token-encryption-key", refresh: false, CancellationToken.None);
        var notFound = await Assert.ThrowsAsync<SecretNotFoundException>(
            () => source.GetSecretAsync("no-such-secret", refresh: false, CancellationToken.None).AsTask());
        _vault.FailWith = HttpStatusCode.ServiceUnavailable;
        var outage = await Assert.ThrowsAsync<SecretsUnavailableException>(
            () => source.GetSecretAsync(ClientSecretName, refresh: true, CancellationToken.None).AsTask());

        var ourLogs = _logs.GetSnapshot().Select(r => r.Message + r.Exception).ToList();
        Assert.NotEmpty(ourLogs);
        Assert.Contains(sdkEvents.Texts, t => t.Contains(_vault.VaultUri.Host, StringComparison.Ordinal) && t.Contains("Authorization", StringComparison.Ordinal));
        string[] everything = [.. ourLogs, .. sdkEvents.Texts, notFound.ToString(), outage.ToString()];
        foreach (var text in everything)
        {
            Assert.DoesNotContain(_vault.Credential.Token, text, StringComparison.Ordinal);
            Assert.DoesNotContain("client-secret-value-5b1e", text, StringComparison.Ordinal);
            Assert.DoesNotContain("key-value-9c3f", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void SecretVersion_ToString_LeavesTheValueOut()
    {
        var version = new SecretVersion("0f1e2d", "secret-value-77aa", _time.GetUtcNow());

        Assert.DoesNotContain("secret-value-77aa", version.ToString(), StringComparison.Ordinal);
        Assert.Contains("0f1e2d", version.ToString(), StringComparison.Ordinal);
    }

    private KeyVaultSecretSource CreateSource() =>
        new(
            _vault.CreateClient(),
            Options.Create(new FunctionsAuthOptions { KeyVaultUri = _vault.VaultUri, SecretCacheDuration = CacheDuration }),
            _time,
            new FakeLogger<KeyVaultSecretSource>(_logs));

    /// <summary>
    /// Every event of the Azure SDK's event sources (the ones <c>AzureEventSourceListener</c> enables), with all payload
    /// values. Written here because that listener's constructor can race with event sources created by tests running in parallel.
    /// </summary>
    private sealed class AzureSdkEvents : EventListener
    {
        // A field initializer, so it exists before the base constructor reports the event sources already created.
        private readonly ConcurrentQueue<string> _texts = new();

        // A snapshot: other tests' Azure SDK clients keep writing events while a test reads them (and a collection
        // growing between its Count and its enumeration breaks a spread into an array).
        public string[] Texts => _texts.ToArray();

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.GetTrait("AzureEventSource") == "true")
            {
                EnableEvents(eventSource, EventLevel.Verbose);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData) =>
            _texts.Enqueue($"{eventData.EventName}: {eventData.Message} {string.Join(" | ", eventData.Payload ?? [])}");
    }
}
