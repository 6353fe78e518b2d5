using System.Net;
using System.Text;
using FunctionsAuth.Configuration;
using FunctionsAuth.OAuth;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace FunctionsAuth.Tests.OAuth;

public sealed class ProviderRegistryTests
{
    private const string Provider = "corporate";
    private static readonly Uri TheIssuer = new("http://127.0.0.1:5999/");
    private static readonly Uri TheTokenEndpoint = new("http://127.0.0.1:5999/connect/token");

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 1, 9, 0, 0, TimeSpan.Zero));
    private readonly DiscoveryEndpoint _discovery = new();

    [Fact]
    public async Task GetAsync_ConcurrentCallers_FetchDiscoveryOnce()
    {
        var registry = CreateRegistry();
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _discovery.Hold = hold;

        var lookups = Enumerable.Range(0, 16).Select(_ => registry.GetAsync(Provider, CancellationToken.None).AsTask()).ToArray();
        await WaitUntilAsync(() => _discovery.Requests == 1);
        hold.SetResult();
        var descriptors = await Task.WhenAll(lookups);

        Assert.All(descriptors, d => Assert.Equal(TheTokenEndpoint, d.TokenEndpoint));
        Assert.Equal(1, _discovery.Requests);
    }

    [Fact]
    public async Task GetAsync_WithinADay_IsServedFromCache_ThenFetchedAgain()
    {
        var registry = CreateRegistry();
        await registry.GetAsync(Provider, CancellationToken.None);

        _time.Advance(TimeSpan.FromHours(24) - TimeSpan.FromSeconds(1));
        var cached = registry.GetAsync(Provider, CancellationToken.None);
        Assert.True(cached.IsCompletedSuccessfully);
        Assert.Equal(1, _discovery.Requests);

        _time.Advance(TimeSpan.FromSeconds(1));
        await registry.GetAsync(Provider, CancellationToken.None);
        Assert.Equal(2, _discovery.Requests);
    }

    [Fact]
    public async Task GetAsync_FailedDiscovery_IsNotCached()
    {
        var registry = CreateRegistry();
        _discovery.Status = HttpStatusCode.ServiceUnavailable;
        await Assert.ThrowsAsync<HttpRequestException>(() => registry.GetAsync(Provider, CancellationToken.None).AsTask());

        _discovery.Status = HttpStatusCode.OK;
        var descriptor = await registry.GetAsync(Provider, CancellationToken.None);

        Assert.Equal(TheTokenEndpoint, descriptor.TokenEndpoint);
        Assert.Equal(2, _discovery.Requests);
    }

    [Fact]
    public async Task GetAsync_CallerCancels_OthersStillGetTheSharedFetch()
    {
        var registry = CreateRegistry();
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _discovery.Hold = hold;
        using var giveUp = new CancellationTokenSource();

        var impatient = registry.GetAsync(Provider, giveUp.Token).AsTask();
        var patient = registry.GetAsync(Provider, CancellationToken.None).AsTask();
        await WaitUntilAsync(() => _discovery.Requests == 1);
        await giveUp.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => impatient);
        hold.SetResult();

        Assert.Equal(TheTokenEndpoint, (await patient).TokenEndpoint);
        Assert.Equal(1, _discovery.Requests);
    }

    [Fact]
    public async Task GetAsync_ConfiguredMethodTheDocumentDoesNotList_FailsNamingProviderAndMethod()
    {
        _discovery.AuthMethods = ["client_secret_basic", "client_secret_post"];
        var registry = CreateRegistry(ClientAuthenticationMethod.PrivateKeyJwt);

        var thrown = await Assert.ThrowsAsync<ProviderDiscoveryException>(() => registry.GetAsync(Provider, CancellationToken.None).AsTask());

        Assert.Contains($"'{Provider}'", thrown.Message);
        Assert.Contains("PrivateKeyJwt (private_key_jwt)", thrown.Message);
        Assert.Contains("client_secret_basic, client_secret_post", thrown.Message);
    }

    [Theory]
    [InlineData(ClientAuthenticationMethod.PrivateKeyJwt, "private_key_jwt")]
    [InlineData(ClientAuthenticationMethod.ClientSecretPost, "client_secret_post")]
    [InlineData(ClientAuthenticationMethod.ClientSecretBasic, "client_secret_basic")]
    public async Task GetAsync_ConfiguredMethodTheDocumentLists_IsUsed(ClientAuthenticationMethod method, string listed)
    {
        _discovery.AuthMethods = [listed];

        var descriptor = await CreateRegistry(method).GetAsync(Provider, CancellationToken.None);

        Assert.Equal(method, descriptor.ClientAuthentication);
    }

    [Fact]
    public async Task GetAsync_DocumentWithoutTheList_DoesNotHoldItAgainstTheMethod()
    {
        var descriptor = await CreateRegistry(ClientAuthenticationMethod.PrivateKeyJwt).GetAsync(Provider, CancellationToken.None);

        Assert.Equal(ClientAuthenticationMethod.PrivateKeyJwt, descriptor.ClientAuthentication);
    }

    [Fact]
    public async Task GetAsync_AutoWithACertificate_IsPrivateKeyJwt_CheckedAgainstTheDocument()
    {
        _discovery.AuthMethods = ["client_secret_basic"];

        var thrown = await Assert.ThrowsAsync<ProviderDiscoveryException>(() => CreateRegistry(ClientAuthenticationMethod.Auto, "client-certificate").GetAsync(Provider, CancellationToken.None).AsTask());

        Assert.Contains("private_key_jwt", thrown.Message);
    }

    [Theory]
    [InlineData(null, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token", "api://AzureADTokenExchange")]
    [InlineData("https://login.microsoftonline.us/", "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token", "api://AzureADTokenExchangeUSGov")]
    [InlineData("https://login.partner.microsoftonline.cn", "https://login.partner.microsoftonline.cn/contoso.onmicrosoft.com/oauth2/v2.0/token", "api://AzureADTokenExchangeChina")]
    public async Task GetAsync_Entra_TokenEndpointAndExchangeAudience_FollowTheInstancesCloud(string? instance, string tokenEndpoint, string audience)
    {
        var registry = CreateRegistry(new ProviderOptions
        {
            Kind = ProviderKind.Entra,
            TenantId = "contoso.onmicrosoft.com",
            Instance = instance is null ? null : new Uri(instance),
            ClientId = "client",
            Scopes = "api://app/.default offline_access",
            ClientAuthentication = ClientAuthenticationMethod.ManagedIdentity,
        });

        var descriptor = await registry.GetAsync(Provider, CancellationToken.None);

        Assert.Equal(new Uri(tokenEndpoint), descriptor.TokenEndpoint);
        Assert.Equal(audience, descriptor.TokenExchangeAudience);
        Assert.Equal(0, _discovery.Requests);
    }

    [Fact]
    public async Task GetAsync_Entra_ConfiguredExchangeAudience_WinsOverTheCloudsOwn()
    {
        var registry = CreateRegistry(new ProviderOptions
        {
            Kind = ProviderKind.Entra,
            TenantId = "contoso.onmicrosoft.com",
            ClientId = "client",
            ClientAuthentication = ClientAuthenticationMethod.ManagedIdentity,
            TokenExchangeAudience = "api://AzureADTokenExchangeUSNat",
        });

        Assert.Equal("api://AzureADTokenExchangeUSNat", (await registry.GetAsync(Provider, CancellationToken.None)).TokenExchangeAudience);
    }

    [Fact]
    public async Task GetAsync_Entra_WithASecret_HasNoExchangeAudience()
    {
        var registry = CreateRegistry(new ProviderOptions { Kind = ProviderKind.Entra, TenantId = "contoso.onmicrosoft.com", ClientId = "client", ClientSecretName = "secret" });

        Assert.Null((await registry.GetAsync(Provider, CancellationToken.None)).TokenExchangeAudience);
    }

    private ProviderRegistry CreateRegistry(ClientAuthenticationMethod method = ClientAuthenticationMethod.Auto, string? certificate = null) =>
        CreateRegistry(new ProviderOptions { Issuer = TheIssuer, ClientId = "client", ClientAuthentication = method, ClientCertificateName = certificate });

    private ProviderRegistry CreateRegistry(ProviderOptions provider)
    {
        var options = new FunctionsAuthOptions();
        options.Providers[Provider] = provider;
        return new ProviderRegistry(Options.Create(options), new OneHandlerFactory(_discovery), _time, NullLogger<ProviderRegistry>.Instance);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!condition())
        {
            await Task.Delay(5, timeout.Token);
        }
    }

    private sealed class OneHandlerFactory(HttpMessageHandler handler) : IHttpClientFactory
    {
        public HttpClient CreateClient(string name) => new(handler, disposeHandler: false);
    }

    private sealed class DiscoveryEndpoint : HttpMessageHandler
    {
        private int _requests;

        public int Requests => Volatile.Read(ref _requests);

        public TaskCompletionSource? Hold { get; set; }

        public HttpStatusCode Status { get; set; } = HttpStatusCode.OK;

        /// <summary><c>token_endpoint_auth_methods_supported</c>; null leaves it out of the document.</summary>
        public string[]? AuthMethods { get; set; }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Assert.Equal(new Uri(TheIssuer, ".well-known/openid-configuration"), request.RequestUri);
            Interlocked.Increment(ref _requests);
            if (Hold is { } hold)
            {
                await hold.Task.WaitAsync(cancellationToken);
            }

            if (Status != HttpStatusCode.OK)
            {
                return new HttpResponseMessage(Status);
            }

            var methods = AuthMethods is null ? "" : $$""","token_endpoint_auth_methods_supported":[{{string.Join(",", AuthMethods.Select(m => $"\"{m}\""))}}]""";
            var document = $$"""{"issuer":"{{TheIssuer.AbsoluteUri.TrimEnd('/')}}","token_endpoint":"{{TheTokenEndpoint}}"{{methods}}}""";
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(document, Encoding.UTF8, "application/json") };
        }
    }
}
