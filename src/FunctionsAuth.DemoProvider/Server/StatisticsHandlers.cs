using System.Security.Cryptography;
using System.Text;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace FunctionsAuth.DemoProvider.Server;

// Runs before OpenIddict's first validation handler (ValidateGrantType, int.MinValue + 100_000), so every refresh
// request is counted when received, including the ones OpenIddict rejects afterwards.
internal sealed class CountRefreshRequests(DemoOAuthServerStatistics statistics)
    : IOpenIddictServerHandler<ValidateTokenRequestContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateTokenRequestContext>()
            .UseSingletonHandler<CountRefreshRequests>()
            .SetOrder(int.MinValue + 50_000)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ValidateTokenRequestContext context)
    {
        if (context.Request.IsRefreshTokenGrantType())
        {
            statistics.RecordRefreshRequest(Hash(context.Request.RefreshToken));
            if (!string.IsNullOrEmpty(context.Request.Scope) || context.Request.HasParameter(OpenIddict.Abstractions.OpenIddictConstants.Parameters.Resource))
            {
                statistics.RecordScopedRefreshRequest();
            }
        }

        return ValueTask.CompletedTask;
    }

    // Only a digest is kept: enough to recognise a value presented twice, useless to anyone reading memory.
    internal static string? Hash(string? refreshToken) =>
        string.IsNullOrEmpty(refreshToken)
            ? null
            : Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(refreshToken)));
}

internal sealed class CountSuccessfulTokenResponses(DemoOAuthServerStatistics statistics)
    : IOpenIddictServerHandler<ApplyTokenResponseContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ApplyTokenResponseContext>()
            .UseSingletonHandler<CountSuccessfulTokenResponses>()
            .SetOrder(int.MinValue + 50_000)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ApplyTokenResponseContext context)
    {
        if (context.Request is not { } request)
        {
            return ValueTask.CompletedTask;
        }

        if (context.Response.Error is Errors.InvalidScope or Errors.InvalidTarget && request.IsRefreshTokenGrantType())
        {
            // Refused for what it asked before its refresh token was looked at (redemption comes later, at sign-in):
            // nothing was spent, so presenting that token again is no reuse.
            statistics.ForgetRefreshRequest(CountRefreshRequests.Hash(request.RefreshToken));
            return ValueTask.CompletedTask;
        }

        if (!string.IsNullOrEmpty(context.Response.Error))
        {
            return ValueTask.CompletedTask;
        }

        if (request.IsRefreshTokenGrantType())
        {
            statistics.RecordSuccessfulRefresh();
        }
        else if (request.IsAuthorizationCodeGrantType())
        {
            statistics.RecordAuthorizationCodeRedemption();
        }

        return ValueTask.CompletedTask;
    }
}

internal sealed class CountRevocationRequests(DemoOAuthServerStatistics statistics)
    : IOpenIddictServerHandler<ValidateRevocationRequestContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateRevocationRequestContext>()
            .UseSingletonHandler<CountRevocationRequests>()
            .SetOrder(int.MinValue + 50_000)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ValidateRevocationRequestContext context)
    {
        statistics.RecordRevocationRequest();
        return ValueTask.CompletedTask;
    }
}
