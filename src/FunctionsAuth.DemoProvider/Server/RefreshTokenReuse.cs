using System.Security.Claims;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace FunctionsAuth.DemoProvider.Server;

// Strict refresh-token reuse detection, as providers with rotation do it: presenting a spent refresh token, or
// spending one twice at the same moment, gets invalid_grant and kills the grant. OpenIddict alone falls short in two
// places. Its reuse check revokes the chain's tokens one by one, which misses the token a concurrent request is
// still issuing, and with the non-bulk EF store it can fail on a concurrency conflict with that very request. And
// its redemption step ignores a lost race on a refresh token (to serve its reuse leeway), so two concurrent requests
// could both spend one token. Both cases here revoke the authorization instead: OpenIddict then rejects every token
// of the grant, including ones issued later, and revoking one row cannot collide with token writes.
// With a reuse leeway configured (DemoOAuthServerOptions.RefreshTokenReuseLeeway), a token redeemed less than that long
// ago is let through both handlers, and OpenIddict answers it with new tokens: the grace interval of providers such as
// Auth0 and Okta. Past the leeway the strict rules apply.

/// <summary>Rejects a refresh token already redeemed, ahead of OpenIddict's <c>ValidateTokenEntry</c>.</summary>
internal sealed class RejectRedeemedRefreshToken(
    IOpenIddictTokenManager tokens,
    IOpenIddictAuthorizationManager authorizations,
    ILogger<RejectRedeemedRefreshToken> logger) : IOpenIddictServerHandler<ValidateTokenContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateTokenContext>()
            .UseScopedHandler<RejectRedeemedRefreshToken>()
            .SetOrder(OpenIddictServerHandlers.Protection.ValidateTokenEntry.Descriptor.Order - 500)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(ValidateTokenContext context)
    {
        if (context.EndpointType is not OpenIddictServerEndpointType.Token ||
            context.Request?.IsRefreshTokenGrantType() is not true ||
            context.Principal?.HasTokenType(TokenTypeIdentifiers.RefreshToken) is not true)
        {
            return;
        }

        var tokenId = context.TokenId ?? context.Principal.GetTokenId();
        if (string.IsNullOrEmpty(tokenId) ||
            await tokens.FindByIdAsync(tokenId, context.CancellationToken) is not { } token ||
            !await tokens.HasStatusAsync(token, Statuses.Redeemed, context.CancellationToken))
        {
            return;
        }

        if (await ReuseLeeway.CoversAsync(tokens, token, context.Options, context.CancellationToken))
        {
            return;
        }

        await GrantRevocation.RevokeAsync(tokens, authorizations, token, logger, context.CancellationToken);

        context.Reject(error: Errors.InvalidGrant, description: "The specified refresh token has already been redeemed.");
    }
}

/// <summary>
/// Replaces OpenIddict's <c>RedeemTokenEntry</c>: marks the presented code or refresh token redeemed, and rejects the
/// request when a concurrent one got there first (the store's concurrency token decides).
/// </summary>
internal sealed class RedeemTokenEntryStrictly(
    IOpenIddictTokenManager tokens,
    IOpenIddictAuthorizationManager authorizations,
    ILogger<RedeemTokenEntryStrictly> logger) : IOpenIddictServerHandler<ProcessSignInContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ProcessSignInContext>()
            .UseScopedHandler<RedeemTokenEntryStrictly>()
            .SetOrder(OpenIddictServerHandlers.RedeemTokenEntry.Descriptor.Order)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(ProcessSignInContext context)
    {
        if (context.EndpointType is not OpenIddictServerEndpointType.Token)
        {
            return;
        }

        var isRefresh = context.Request.IsRefreshTokenGrantType();
        if (!isRefresh && !context.Request.IsAuthorizationCodeGrantType())
        {
            return;
        }

        var authentication = context.Transaction.GetProperty<ProcessAuthenticationContext>(
            typeof(ProcessAuthenticationContext).FullName!)
            ?? throw new InvalidOperationException("The authentication context of the token request is missing.");

        ClaimsPrincipal? principal = isRefresh ? authentication.RefreshTokenPrincipal : authentication.AuthorizationCodePrincipal;
        var tokenId = principal?.GetTokenId();
        if (string.IsNullOrEmpty(tokenId) || await tokens.FindByIdAsync(tokenId, context.CancellationToken) is not { } token)
        {
            return;
        }

        if (isRefresh
            && await tokens.HasStatusAsync(token, Statuses.Redeemed, context.CancellationToken)
            && await ReuseLeeway.CoversAsync(tokens, token, context.Options, context.CancellationToken))
        {
            // Presented again within the leeway: answered, and its first redemption stands.
            return;
        }

        if (await tokens.TryRedeemAsync(token, context.CancellationToken))
        {
            return;
        }

        if (isRefresh)
        {
            await GrantRevocation.RevokeAsync(tokens, authorizations, token, logger, context.CancellationToken);
        }

        context.Reject(
            error: Errors.InvalidGrant,
            description: isRefresh
                ? "The specified refresh token has already been redeemed."
                : "The specified authorization code has already been redeemed.");
    }
}

internal static class ReuseLeeway
{
    /// <summary>Whether a redeemed <paramref name="token"/> is still within the server's reuse leeway.</summary>
    public static async ValueTask<bool> CoversAsync(IOpenIddictTokenManager tokens, object token, OpenIddictServerOptions options, CancellationToken cancellationToken) =>
        options.RefreshTokenReuseLeeway is { } leeway
        && leeway > TimeSpan.Zero
        && await tokens.GetRedemptionDateAsync(token, cancellationToken) is { } redeemed
        && redeemed + leeway >= DateTimeOffset.UtcNow;
}

internal static class GrantRevocation
{
    /// <summary>Every authorization and token of <paramref name="subject"/>: an admin's "sign out everywhere".</summary>
    public static async Task RevokeBySubjectAsync(IServiceProvider services, string subject, CancellationToken cancellationToken)
    {
        // Authorizations first: a revoked authorization alone makes OpenIddict reject all of its tokens.
        await using var scope = services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<IOpenIddictAuthorizationManager>().RevokeBySubjectAsync(subject, cancellationToken);
        await scope.ServiceProvider.GetRequiredService<IOpenIddictTokenManager>().RevokeBySubjectAsync(subject, cancellationToken);
    }

    public static async Task RevokeAsync(
        IOpenIddictTokenManager tokens,
        IOpenIddictAuthorizationManager authorizations,
        object token,
        ILogger logger,
        CancellationToken cancellationToken)
    {
        var authorizationId = await tokens.GetAuthorizationIdAsync(token, cancellationToken);
        if (string.IsNullOrEmpty(authorizationId) ||
            await authorizations.FindByIdAsync(authorizationId, cancellationToken) is not { } authorization)
        {
            await tokens.TryRevokeAsync(token, cancellationToken);
            return;
        }

        // false only when a concurrent request revoked it first: the outcome is the same.
        await authorizations.TryRevokeAsync(authorization, cancellationToken);
        Log.RefreshTokenReuseDetected(logger, authorizationId);
    }
}
