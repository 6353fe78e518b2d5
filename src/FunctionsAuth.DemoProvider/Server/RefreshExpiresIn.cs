using OpenIddict.Server;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace FunctionsAuth.DemoProvider.Server;

/// <summary>
/// Keycloak's <c>refresh_expires_in</c> (not in RFC 6749): how long the refresh token in this response lives. Added when
/// <see cref="DemoOAuthServerOptions.PublishRefreshExpiresIn"/> is on, so clients can be tested against a provider that
/// says when its refresh tokens die.
/// </summary>
internal sealed class AddRefreshExpiresIn(DemoOAuthServerOptions options) : IOpenIddictServerHandler<ApplyTokenResponseContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ApplyTokenResponseContext>()
            .UseSingletonHandler<AddRefreshExpiresIn>()
            .SetOrder(int.MinValue + 60_000)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ApplyTokenResponseContext context)
    {
        if (options.PublishRefreshExpiresIn && string.IsNullOrEmpty(context.Response.Error) && !string.IsNullOrEmpty(context.Response.RefreshToken))
        {
            context.Response["refresh_expires_in"] = (long)options.RefreshTokenLifetime.TotalSeconds;
        }

        return ValueTask.CompletedTask;
    }
}
