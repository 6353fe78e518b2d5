using System.Collections.Concurrent;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace FunctionsAuth.DemoProvider.Server;

/// <summary>
/// RFC 7523 §3 (7): a client assertion is single-use, its <c>jti</c> remembered until it expires. OpenIddict checks the
/// signature, <c>iss</c>/<c>sub</c>, <c>aud</c>, <c>typ</c> and <c>exp</c> but keeps no record of <c>jti</c>s, so an
/// assertion copied off the wire would work again within its lifetime; here (after the assertion's own checks, before
/// the client is looked up) the second use gets <c>invalid_client</c>,
/// as at providers that enforce it.
/// </summary>
internal sealed class RejectReplayedClientAssertion(TimeProvider time) : IOpenIddictServerHandler<ProcessAuthenticationContext>
{
    private readonly ConcurrentDictionary<string, DateTimeOffset> seen = new(StringComparer.Ordinal);

    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ProcessAuthenticationContext>()
            .AddFilter<OpenIddictServerHandlerFilters.RequireClientAssertionPrincipal>()
            .UseSingletonHandler<RejectReplayedClientAssertion>()
            .SetOrder(OpenIddictServerHandlers.ValidateClientId.Descriptor.Order - 500)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ProcessAuthenticationContext context)
    {
        var principal = context.ClientAssertionPrincipal!;
        var now = time.GetUtcNow();
        if (principal.GetClaim(Claims.JwtId) is not { Length: > 0 } jti)
        {
            context.Reject(error: Errors.InvalidClient, description: "The client assertion carries no jti.");
            return default;
        }

        var expiresAt = principal.GetExpirationDate() ?? now.AddMinutes(10);
        foreach (var (id, until) in seen)
        {
            if (until < now)
            {
                seen.TryRemove(id, out _);
            }
        }

        if (!seen.TryAdd(principal.GetClaim(Claims.Issuer) + " " + jti, expiresAt))
        {
            context.Reject(error: Errors.InvalidClient, description: "The client assertion was already used.");
        }

        return default;
    }
}
