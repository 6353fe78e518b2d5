using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsAuth.DemoProvider.Server;

/// <summary>
/// Endpoints for local runs and tests only (the demo provider is never deployed), under <c>/demo-admin/</c>:
/// what the in-process <see cref="DemoOAuthServer"/> offers as methods, for tests that run it as a separate process
/// (the browser tests of the Next.js example). There is no authentication: the server binds loopback only.
/// </summary>
internal static class TestEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        // GET /demo-admin/statistics: what the token and revocation endpoints have seen (no token values).
        app.MapGet("/demo-admin/statistics", static (DemoOAuthServerStatistics statistics) => Results.Json(new
        {
            authorizationCodeRedemptions = statistics.AuthorizationCodeRedemptions,
            refreshRequests = statistics.RefreshRequests,
            successfulRefreshes = statistics.SuccessfulRefreshes,
            reusedRefreshTokens = statistics.ReusedRefreshTokens,
            revocationRequests = statistics.RevocationRequests,
            scopedRefreshRequests = statistics.ScopedRefreshRequests,
        }));

        // POST /demo-admin/revoke-grants?subject=demo-user: revoke every grant of a user behind the client's back,
        // as an admin's "sign out everywhere" would; the next refresh of any of its tokens gets invalid_grant.
        app.MapPost("/demo-admin/revoke-grants", static async (string? subject, HttpContext httpContext) =>
        {
            if (string.IsNullOrWhiteSpace(subject))
            {
                return Results.BadRequest(new { error = "invalid_request", error_description = "The subject query parameter is required." });
            }

            await GrantRevocation.RevokeBySubjectAsync(httpContext.RequestServices, subject, httpContext.RequestAborted);
            return Results.NoContent();
        });
    }
}
