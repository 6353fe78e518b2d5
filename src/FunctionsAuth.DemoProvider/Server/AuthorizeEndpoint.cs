using System.Security.Claims;
using Microsoft.AspNetCore;
using Microsoft.AspNetCore.Http;
using Microsoft.IdentityModel.Tokens;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace FunctionsAuth.DemoProvider.Server;

/// <summary>
/// The passthrough authorization endpoint: OpenIddict has already validated the request (client, redirect URI,
/// PKCE, scopes); there is no login page, the user is whoever <c>login_hint</c> names.
/// </summary>
internal static class AuthorizeEndpoint
{
    public const string DefaultSubject = "demo-user";

    public static IResult Handle(HttpContext httpContext)
    {
        var request = httpContext.GetOpenIddictServerRequest()
            ?? throw new InvalidOperationException("The OpenIddict authorization request cannot be retrieved.");

        var subject = string.IsNullOrWhiteSpace(request.LoginHint) ? DefaultSubject : request.LoginHint;
        var scopes = request.GetScopes();

        var identity = new ClaimsIdentity(
            authenticationType: TokenValidationParameters.DefaultAuthenticationType,
            nameType: Claims.Name,
            roleType: Claims.Role);

        identity.SetClaim(Claims.Subject, subject);

        if (scopes.Contains(Scopes.Profile))
        {
            identity.SetClaim(Claims.Name, subject)
                    .SetClaim(Claims.PreferredUsername, subject);
        }

        if (scopes.Contains(Scopes.Email))
        {
            identity.SetClaim(Claims.Email, subject + "@demo.invalid")
                    .SetClaim(Claims.EmailVerified, true);
        }

        identity.SetScopes(scopes);

        // Every claim here is backed by a granted scope, so all of them may go into both tokens.
        identity.SetDestinations(static _ => [Destinations.AccessToken, Destinations.IdentityToken]);

        return Results.SignIn(
            new ClaimsPrincipal(identity),
            properties: null,
            authenticationScheme: OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
    }
}
