using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace FunctionsAuth.DemoProvider.Server;

/// <summary>
/// RFC 8707 §2.2 on the refresh grant: an access token asked for with <c>resource</c> is for that resource alone (its
/// <c>aud</c>). OpenIddict validates the parameter (registered resource, client permission) but, on its own, keeps the
/// audiences of the original grant; this makes the token as resource-bound as Entra ID's or Auth0's, so tests can read
/// which resource a token was issued for. The refresh token the answer rotates keeps the grant's own audiences.
/// </summary>
internal sealed class BindAccessTokenToResource : IOpenIddictServerHandler<ProcessSignInContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ProcessSignInContext>()
            .UseSingletonHandler<BindAccessTokenToResource>()
            .SetOrder(OpenIddictServerHandlers.PrepareAccessTokenPrincipal.Descriptor.Order + 1)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ProcessSignInContext context)
    {
        if (context.EndpointType is OpenIddictServerEndpointType.Token
            && context.Request.IsRefreshTokenGrantType()
            && context.AccessTokenPrincipal is { } principal
            && context.Request.GetResources() is { IsDefaultOrEmpty: false } resources)
        {
            principal.SetAudiences(resources);
        }

        return ValueTask.CompletedTask;
    }
}
