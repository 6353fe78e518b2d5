using Microsoft.Extensions.DependencyInjection;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace FunctionsAuth.DemoProvider.Server;

internal static class ClientRegistration
{
    public static async Task RegisterAsync(
        IServiceProvider services, IEnumerable<DemoOAuthClient> clients, CancellationToken cancellationToken)
    {
        await using var scope = services.CreateAsyncScope();
        var applications = scope.ServiceProvider.GetRequiredService<IOpenIddictApplicationManager>();

        foreach (var client in clients)
        {
            await applications.CreateAsync(CreateDescriptor(client), cancellationToken);
        }
    }

    private static OpenIddictApplicationDescriptor CreateDescriptor(DemoOAuthClient client)
    {
        var descriptor = new OpenIddictApplicationDescriptor
        {
            ClientId = client.ClientId,
            ClientSecret = client.ClientSecret,
            JsonWebKeySet = client.JsonWebKeySet,
            ClientType = client.IsPublic ? ClientTypes.Public : ClientTypes.Confidential,
            ConsentType = ConsentTypes.Implicit,
            DisplayName = client.ClientId,
            Permissions =
            {
                Permissions.Endpoints.Authorization,
                Permissions.Endpoints.Token,
                Permissions.Endpoints.Revocation,
                Permissions.GrantTypes.AuthorizationCode,
                Permissions.GrantTypes.RefreshToken,
                Permissions.ResponseTypes.Code,
                Permissions.Scopes.Email,
                Permissions.Scopes.Profile,
                Permissions.Prefixes.Scope + DemoProviderApplication.ApiScope,
                Permissions.Prefixes.Resource + DemoProviderApplication.ApiResource,
            },
            Requirements =
            {
                Requirements.Features.ProofKeyForCodeExchange,
            },
        };

        foreach (var redirectUri in client.RedirectUris)
        {
            descriptor.RedirectUris.Add(redirectUri);
        }

        return descriptor;
    }
}
