using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Tokens;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace FunctionsAuth.DemoProvider.Server;

/// <summary>The one place the OpenIddict server is configured, for both the in-process and the standalone host.</summary>
internal static class DemoProviderApplication
{
    public const string ApiScope = "api";

    /// <summary>A resource (RFC 8707) clients may ask an access token for: the token's <c>aud</c> is then this alone.</summary>
    public const string ApiResource = "https://api.demo.invalid/";

    public static WebApplication Build(
        WebApplicationBuilder builder,
        DemoOAuthServerOptions options,
        DemoOAuthServerStatistics statistics,
        string databaseName,
        RSA signingKey)
    {
        // Warning keeps OpenIddict's request logging (which would include token requests) out of the output;
        // a "Logging" configuration section can still override it.
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("FunctionsAuth.DemoProvider", LogLevel.Information);

        builder.Services.AddSingleton(statistics);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(TimeProvider.System);

        // ASP.NET Core authentication pulls in Data Protection; nothing here needs keys that outlive the process,
        // and tests must not write key files into the user's profile.
        builder.Services.AddDataProtection().UseEphemeralDataProtectionProvider();

        // Scoped DbContext (not pooled, not singleton): every request gets its own context, so concurrent token
        // requests never share change tracking. The name is unique per server, so two servers in one process
        // do not share the InMemory store. OpenIddict's stores open transactions for some operations; InMemory
        // has none and would throw instead of ignoring them.
        builder.Services.AddDbContext<DemoProviderDbContext>(db => db
            .UseInMemoryDatabase(databaseName)
            .UseOpenIddict()
            .ConfigureWarnings(warnings => warnings.Ignore(InMemoryEventId.TransactionIgnoredWarning)));

        builder.Services.AddOpenIddict()
            .AddCore(core => core
                .UseEntityFrameworkCore()
                .UseDbContext<DemoProviderDbContext>()
                // The InMemory provider cannot run ExecuteUpdate/ExecuteDelete, which OpenIddict otherwise uses to
                // revoke a token chain (authorization-code replay) and to revoke by subject (RevokeGrantsAsync).
                .DisableBulkOperations())
            .AddServer(server =>
            {
                server.SetAuthorizationEndpointUris("connect/authorize")
                      .SetTokenEndpointUris("connect/token")
                      .SetRevocationEndpointUris("connect/revoke")
                      .SetUserInfoEndpointUris("connect/userinfo");

                server.AllowAuthorizationCodeFlow()
                      .RequireProofKeyForCodeExchange()
                      .AllowRefreshTokenFlow();

                // S256 only, like the providers this stands in for.
                server.Configure(serverOptions => serverOptions.CodeChallengeMethods.Remove(CodeChallengeMethods.Plain));

                server.RegisterScopes(Scopes.OpenId, Scopes.OfflineAccess, Scopes.Email, Scopes.Profile, ApiScope);
                server.RegisterResources(ApiResource);

                server.SetAccessTokenLifetime(options.AccessTokenLifetime)
                      .SetRefreshTokenLifetime(options.RefreshTokenLifetime);

                // Rolling refresh tokens are OpenIddict's default. Its 30 s reuse leeway would accept a redeemed
                // refresh token again and hide a double spend; with zero (our default), OpenIddict itself rejects any
                // reuse. RefreshTokenReuse.cs closes the gaps that remain (see there). A positive leeway stands in for
                // a provider with a reuse interval (Auth0, Okta): a token presented again within it is answered.
                server.SetRefreshTokenReuseLeeway(options.RefreshTokenReuseLeeway);

                // Opaque refresh tokens, as real providers issue them.
                server.UseReferenceRefreshTokens();

                // Not AddEphemeralSigningKey/AddEphemeralEncryptionKey: OpenIddict 7 makes those RSA-4096, whose
                // generation costs seconds per server on a small machine. RS256 with 2048 bits is what Auth0, Okta
                // and Keycloak sign with; a random AES key is enough for the tokens only this server reads.
                server.AddSigningKey(new RsaSecurityKey(signingKey))
                      .AddEncryptionKey(new SymmetricSecurityKey(RandomNumberGenerator.GetBytes(32)))
                      .DisableAccessTokenEncryption();

                server.AddEventHandler(CountRefreshRequests.Descriptor)
                      .AddEventHandler(CountSuccessfulTokenResponses.Descriptor)
                      .AddEventHandler(CountRevocationRequests.Descriptor)
                      .AddEventHandler(AddRefreshExpiresIn.Descriptor)
                      .AddEventHandler(BindAccessTokenToResource.Descriptor)
                      .AddEventHandler(RejectRedeemedRefreshToken.Descriptor)
                      .AddEventHandler(RejectReplayedClientAssertion.Descriptor)
                      .RemoveEventHandler(OpenIddictServerHandlers.RedeemTokenEntry.Descriptor)
                      .AddEventHandler(RedeemTokenEntryStrictly.Descriptor);

                // Plain http on loopback: without this, OpenIddict refuses every request that is not HTTPS.
                server.UseAspNetCore()
                      .DisableTransportSecurityRequirement()
                      .EnableAuthorizationEndpointPassthrough()
                      .EnableUserInfoEndpointPassthrough();
            });

        var app = builder.Build();

        app.UseAuthentication();
        app.MapMethods("/connect/authorize", [HttpMethods.Get, HttpMethods.Post], AuthorizeEndpoint.Handle);
        app.MapMethods("/connect/userinfo", [HttpMethods.Get, HttpMethods.Post], (Func<HttpContext, Task<IResult>>)UserInfoEndpoint.HandleAsync);
        TestEndpoints.Map(app);

        return app;
    }

    public static async Task DeleteDatabaseAsync(IServiceProvider services)
    {
        await using var scope = services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<DemoProviderDbContext>().Database.EnsureDeletedAsync();
    }
}
