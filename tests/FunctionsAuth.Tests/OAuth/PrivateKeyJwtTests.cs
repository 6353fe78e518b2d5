using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using FunctionsAuth.Configuration;
using FunctionsAuth.DemoProvider;
using FunctionsAuth.OAuth;
using FunctionsAuth.Protection;
using FunctionsAuth.Secrets;
using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;
using FunctionsAuth.Tests.Infrastructure;
using FunctionsAuth.Tests.Secrets;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;

namespace FunctionsAuth.Tests.OAuth;

/// <summary>
/// <c>private_key_jwt</c> against the real OpenIddict server, with a client registered for it alone (a JSON Web Key Set,
/// no secret): whatever succeeds here succeeded on a signed assertion.
/// </summary>
public sealed class PrivateKeyJwtTests : IAsyncLifetime
{
    private const string Provider = "keyed";
    private const string CertificateName = "client-certificate";
    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(30);

    private static readonly DemoOAuthClient Client = new()
    {
        ClientId = "functionsauth-private-key-jwt",
        RedirectUris = [new Uri("https://app.example/api/auth/callback/keyed")],
        JsonWebKeySet = ClientAuthenticationTestKeys.KeySet(ClientAuthenticationTestKeys.Registered),
    };

    private readonly FormRecorder recorder = new();

    /// <summary>
    /// The demo server counts a refresh token presented twice when it is received, before client authentication. A
    /// refused assertion makes FunctionsAuth reload its key and send the one request again: the token is presented twice,
    /// refused both times before the grant was looked at, then a third time in the good refresh that follows, which
    /// shows nothing was spent (with reuse detection, a spent token would have ended the grant).
    /// </summary>
    private int repeatedPresentations;
    private DemoOAuthServer server = null!;
    private TestEnvironment environment = null!;
    private TestHost host = null!;

    private Uri TokenEndpoint => new(server.Issuer, "connect/token");

    public async Task InitializeAsync()
    {
        server = await DemoOAuthServer.StartAsync(new DemoOAuthServerOptions { Clients = [Client], AccessTokenLifetime = Lifetime });
        environment = await TestEnvironment.CreateAsync();
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:Issuer"] = server.Issuer.AbsoluteUri;
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:ClientId"] = Client.ClientId;
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:ClientAuthentication"] = "PrivateKeyJwt";
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:ClientCertificateName"] = CertificateName;
        environment.Settings[$"FunctionsAuth:Providers:{Provider}:ClientAssertionFormat"] = "Rfc7523bis";
        environment.Settings[$"FunctionsAuth:Secrets:{CertificateName}"] = ClientAuthenticationTestKeys.Pem(ClientAuthenticationTestKeys.Registered);
        host = await StartHostAsync();
    }

    public async Task DisposeAsync()
    {
        var reused = server.Statistics.ReusedRefreshTokens;
        await host.DisposeAsync();
        await server.DisposeAsync();
        Assert.Equal(repeatedPresentations, reused);
    }

    [Fact]
    public async Task SignInRefreshAndRevoke_SucceedOnAssertionsAlone()
    {
        var session = await SignInAsync(host);
        var stored = await StoredRefreshTokenAsync(session.Session);

        environment.Clock.Advance(Lifetime - TimeSpan.FromSeconds(30));
        var refreshed = await Expect.TokenAsync(await host.RefreshAsync(session.Session));
        Assert.True(refreshed.Refreshed);
        Assert.NotEqual(session.AccessToken, refreshed.AccessToken);
        Assert.Equal(1, server.Statistics.SuccessfulRefreshes);
        var rotated = await StoredRefreshTokenAsync(session.Session);
        Assert.NotEqual(stored, rotated);

        await Expect.StatusAsync(await host.RevokeAsync(session.Session), HttpStatusCode.NoContent);
        Assert.Equal(1, server.Statistics.RevocationRequests);

        // The provider agrees the grant is gone: the revoked token, sent with a valid assertion, is refused as a grant.
        Assert.Equal("invalid_grant", await DirectRefreshErrorAsync(rotated, AssertionFor(ClientAuthenticationTestKeys.Registered)));

        // Every request (code, refresh, revocation) carried a fresh assertion and no secret.
        var forms = recorder.Forms.ToArray();
        Assert.Equal(3, forms.Length);
        var jtis = new HashSet<string>();
        foreach (var form in forms)
        {
            Assert.False(form.ContainsKey("client_secret"));
            Assert.False(form.ContainsKey("(authorization)"));
            Assert.Equal(Client.ClientId, form["client_id"]);
            Assert.Equal(ClientAuthenticator.JwtBearerAssertionType, form["client_assertion_type"]);
            var assertion = new JsonWebToken(form["client_assertion"]);
            Assert.Equal(Client.ClientId, assertion.Issuer);
            Assert.Equal(Client.ClientId, assertion.Subject);
            Assert.Equal([server.Issuer.AbsoluteUri], assertion.Audiences);
            Assert.Equal(PrivateKeyJwtCredentials.ExplicitType, assertion.Typ);
            Assert.True(assertion.ValidTo - assertion.IssuedAt <= ClientAuthenticator.AssertionLifetime);
            Assert.True(jtis.Add(assertion.Id), "an assertion id was used twice");
        }
    }

    [Fact]
    public async Task WrongKey_IsRefusedAsProviderError_AndSpendsNothing()
    {
        var session = await SignInAsync(host);
        var stored = await StoredRefreshTokenAsync(session.Session);
        await using var stranger = await StartHostAsync(builder => builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"FunctionsAuth:Secrets:{CertificateName}"] = ClientAuthenticationTestKeys.Pem(ClientAuthenticationTestKeys.Unregistered),
        }));

        // Past expiry, so no still-valid token can be served instead of the provider's answer.
        environment.Clock.Advance(Lifetime + TimeSpan.FromMinutes(1));
        repeatedPresentations = 2;
        var refused = await Expect.ErrorAsync(await stranger.RefreshAsync(session.Session), HttpStatusCode.BadGateway, "provider_error");
        Assert.Contains("invalid_client", refused.ErrorDescription);
        var code = await server.AuthorizeAsync(Client.ClientId, Client.RedirectUris[0], "openid offline_access api", "bob");
        await Expect.ErrorAsync(await RegisterAsync(stranger, code), HttpStatusCode.BadGateway, "provider_error");

        // Refused before the grant was looked at: the stored refresh token still works with the right key.
        Assert.Equal(stored, await StoredRefreshTokenAsync(session.Session));
        Assert.True((await Expect.TokenAsync(await host.RefreshAsync(session.Session))).Refreshed);
        Assert.Equal(1, server.Statistics.SuccessfulRefreshes);
    }

    [Fact]
    public async Task ExpiredAssertion_IsRefusedAsProviderError()
    {
        // An instance whose clock is an hour slow signs assertions that expired before they were sent.
        var slow = new TestClock();
        slow.Advance(TimeSpan.FromHours(-1));
        await using var late = await StartHostAsync(builder => builder.Services.AddSingleton<TimeProvider>(slow));

        var code = await server.AuthorizeAsync(Client.ClientId, Client.RedirectUris[0], "openid offline_access api", "alice");
        var refused = await Expect.ErrorAsync(await RegisterAsync(late, code), HttpStatusCode.BadGateway, "provider_error");

        Assert.Contains("invalid_client", refused.ErrorDescription);
        Assert.Equal(0, server.Statistics.AuthorizationCodeRedemptions);
        var assertion = new JsonWebToken(recorder.Forms.Last()["client_assertion"]);
        Assert.True(assertion.ValidTo < DateTime.UtcNow);
    }

    [Fact]
    public async Task ReplayedAssertion_IsRefusedAsProviderError_AndSpendsNothing()
    {
        var session = await SignInAsync(host);
        var stored = await StoredRefreshTokenAsync(session.Session);
        var seen = recorder.Forms.Single()["client_assertion"];

        // Sent again as is (still within its lifetime): the provider has seen its jti.
        Assert.Equal("invalid_client", await DirectRefreshErrorAsync("not-a-refresh-token", seen));

        // Through FunctionsAuth (a replaying proxy rewrites every assertion): the contract's provider_error, and the
        // refresh token, presented with an assertion the provider refused, is not spent.
        recorder.ReplayAssertion = seen;
        environment.Clock.Advance(Lifetime + TimeSpan.FromMinutes(1));
        repeatedPresentations = 2;
        await Expect.ErrorAsync(await host.RefreshAsync(session.Session), HttpStatusCode.BadGateway, "provider_error");
        recorder.ReplayAssertion = null;
        Assert.Equal(stored, await StoredRefreshTokenAsync(session.Session));
        Assert.True((await Expect.TokenAsync(await host.RefreshAsync(session.Session))).Refreshed);
    }

    [Fact]
    public async Task KeyVaultCertificate_RotatedInTheVault_IsPickedUpOnInvalidClientWithoutARestart()
    {
        // The vault holds a certificate the provider no longer accepts; the one it accepts is added later, as a new version.
        var vault = new FakeKeyVault();
        vault.AddVersion("token-encryption-key", environment.EncryptionKey, DateTimeOffset.UtcNow.AddDays(-1));
        vault.AddCertificate(CertificateName, ClientAuthenticationTestKeys.Unregistered, DateTimeOffset.UtcNow.AddDays(-30));
        environment.Settings.Remove("FunctionsAuth:Secrets:token-encryption-key");
        environment.Settings.Remove($"FunctionsAuth:Secrets:{CertificateName}");
        environment.Settings["FunctionsAuth:KeyVaultUri"] = vault.VaultUri.AbsoluteUri;
        await using var vaulted = await StartHostAsync(builder => builder.Services
            .AddSingleton(vault.CreateClient())
            .AddSingleton(vault.CreateCertificateClient()));

        var code = await server.AuthorizeAsync(Client.ClientId, Client.RedirectUris[0], "openid offline_access api", "alice");
        await Expect.ErrorAsync(await RegisterAsync(vaulted, code), HttpStatusCode.BadGateway, "provider_error");
        var readsBefore = vault.RequestCount;

        vault.AddCertificate(CertificateName, ClientAuthenticationTestKeys.Registered, DateTimeOffset.UtcNow);
        var session = await SignInAsync(vaulted);

        // Inside the cache's lifetime only the provider's invalid_client can tell: one refused request, one reload
        // (certificate and its secret), then the request again, signed with the new key.
        Assert.Equal(readsBefore + 2, vault.RequestCount);
        var refusedThenAccepted = recorder.Forms.TakeLast(2).Select(f => new JsonWebToken(f["client_assertion"]).Kid).ToArray();
        Assert.Equal([ClientAuthenticationTestKeys.Unregistered.Thumbprint, ClientAuthenticationTestKeys.Registered.Thumbprint], refusedThenAccepted);
        environment.Clock.Advance(Lifetime - TimeSpan.FromSeconds(30));
        Assert.True((await Expect.TokenAsync(await vaulted.RefreshAsync(session.Session))).Refreshed);
        Assert.DoesNotContain("PRIVATE KEY", vaulted.Logs.AllText);
    }

    private Task<TestHost> StartHostAsync(Action<WebApplicationBuilder>? configure = null) =>
        environment.StartHostAsync(builder =>
        {
            builder.Services.AddHttpClient(OAuthClient.HttpClientName).AddHttpMessageHandler(recorder.CreateHandler);
            configure?.Invoke(builder);
        });

    private async Task<SessionCreated> SignInAsync(TestHost target)
    {
        var code = await server.AuthorizeAsync(Client.ClientId, Client.RedirectUris[0], "openid offline_access api", "alice");
        using var response = await RegisterAsync(target, code);
        await Expect.StatusAsync(response, HttpStatusCode.Created);
        return (await response.Content.ReadFromJsonAsync<SessionCreated>())!;
    }

    private static Task<HttpResponseMessage> RegisterAsync(TestHost target, AuthorizationCode code) =>
        target.Client.PostAsJsonAsync("api/auth/sessions", new Dictionary<string, string>
        {
            ["provider"] = Provider,
            ["code"] = code.Code,
            ["code_verifier"] = code.CodeVerifier,
            ["redirect_uri"] = code.RedirectUri.AbsoluteUri,
        });

    private string AssertionFor(System.Security.Cryptography.X509Certificates.X509Certificate2 certificate) =>
        new PrivateKeyJwtCredentials(SigningKeys.FromCertificate("test", certificate), TimeProvider.System).Create(Client.ClientId, server.Issuer.AbsoluteUri, DateTimeOffset.UtcNow, ClientAssertionFormat.Rfc7523bis);

    private async Task<string?> DirectRefreshErrorAsync(string refreshToken, string assertion)
    {
        using var http = new HttpClient();
        using var response = await http.PostAsync(TokenEndpoint, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token",
            ["refresh_token"] = refreshToken,
            ["client_id"] = Client.ClientId,
            ["client_assertion_type"] = ClientAuthenticator.JwtBearerAssertionType,
            ["client_assertion"] = assertion,
        }));
        var text = await response.Content.ReadAsStringAsync();
        using var body = JsonDocument.Parse(text);
        return body.RootElement.TryGetProperty("error", out var error) ? error.GetString() : null;
    }

    private async Task<string> StoredRefreshTokenAsync(string handle)
    {
        Assert.True(SessionHandle.TryGetKey(handle, out var key));
        var row = (await host.Services.GetRequiredService<SessionStore>().GetAsync(key, default))!;
        return await host.Services.GetRequiredService<SessionCrypto>().ReadRefreshTokenAsync(row, default);
    }
}
