using System.Security.Cryptography;
using System.Text;
using FunctionsAuth.Configuration;
using FunctionsAuth.Storage;

namespace FunctionsAuth.Sessions;

/// <summary>
/// What a scoped refresh asks for: a narrower <c>scope</c> (RFC 6749 §3.3) and/or a <c>resource</c> (RFC 8707). In
/// canonical form (scope tokens de-duplicated and sorted ordinally), so one token is cached per distinct request; its
/// <see cref="Key"/> (a hash of both) names the session partition's row that caches it.
/// </summary>
internal sealed record TokenScope
{
    /// <summary>Characters of the whole <c>scope</c> value accepted.</summary>
    public const int MaxScopeLength = 1024;

    /// <summary>Characters of the <c>resource</c> value accepted.</summary>
    public const int MaxResourceLength = 2048;

    private TokenScope(string? scope, string? resource)
    {
        Scope = scope;
        Resource = resource;
        var digest = SHA256.HashData(Encoding.UTF8.GetBytes($"scope\n{scope}\nresource\n{resource}"));
        Key = Convert.ToHexStringLower(digest.AsSpan(0, 16));
    }

    /// <summary>The canonical scope (tokens de-duplicated, sorted ordinally, single spaces), or null.</summary>
    public string? Scope { get; }

    /// <summary>The resource indicator exactly as asked, or null.</summary>
    public string? Resource { get; }

    /// <summary>32 lower-case hex characters: a hash of ("scope", scope, "resource", resource).</summary>
    public string Key { get; }

    /// <summary>The row that caches this token in <paramref name="session"/>'s partition.</summary>
    public string RowKey(SessionKey session) => ScopedTokenEntity.RowKeyOf(session, Key);

    /// <summary>
    /// Parses the request's <c>scope</c> and <c>resource</c> (both optional). False with a description when either is
    /// malformed; true with null when neither was sent.
    /// </summary>
    public static bool TryParse(string? scope, string? resource, out TokenScope? parsed, out string? error)
    {
        parsed = null;
        error = null;
        if (scope is null && resource is null)
        {
            return true;
        }

        string? canonical = null;
        if (scope is not null)
        {
            if (scope.Length is 0 or > MaxScopeLength || Tokens(scope) is not { Length: > 0 } tokens || !tokens.All(IsScopeToken))
            {
                error = $"'scope' must be 1 to {MaxScopeLength} characters: scope tokens (printable ASCII other than '\"' and '\\') separated by spaces.";
                return false;
            }

            canonical = Canonical(scope);
        }

        if (resource is not null && !IsResource(resource))
        {
            error = $"'resource' must be an absolute URI without a fragment, at most {MaxResourceLength} characters (RFC 8707).";
            return false;
        }

        parsed = new TokenScope(canonical, resource);
        return true;
    }

    /// <summary>
    /// Whether the provider lets a session of <paramref name="granted"/> scope ask for this: its scope tokens each in the
    /// provider's <c>AllowedScopes</c> or, where that is unset, in the scope the session was granted (RFC 6749 §6: a
    /// refresh may narrow, never widen); its resource in <c>AllowedResources</c> (none is allowed where that is unset).
    /// </summary>
    public bool IsAllowed(string? granted, ProviderOptions? provider)
    {
        if (Scope is not null)
        {
            var allowed = Tokens(provider?.AllowedScopes is { Length: > 0 } configured ? configured : granted ?? "");
            if (!Tokens(Scope).All(t => allowed.Contains(t, StringComparer.Ordinal)))
            {
                return false;
            }
        }

        return Resource is null || Tokens(provider?.AllowedResources ?? "").Contains(Resource, StringComparer.Ordinal);
    }

    /// <summary>
    /// Whether this is just the session's own token: its whole granted scope, no resource. Such a request is served as if
    /// it named no scope, so nothing is cached twice.
    /// </summary>
    public bool IsSessionsOwn(string? granted) =>
        Resource is null && granted is not null && string.Equals(Scope, Canonical(granted), StringComparison.Ordinal);

    /// <summary>The space-separated tokens of a scope value (or of a setting listing scopes or resources).</summary>
    public static string[] Tokens(string value) => value.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>RFC 6749 §3.3: <c>scope-token = 1*( %x21 / %x23-5B / %x5D-7E )</c>.</summary>
    public static bool IsScopeToken(string token) =>
        token.Length > 0 && token.All(static c => c is '\x21' or (>= '\x23' and <= '\x5B') or (>= '\x5D' and <= '\x7E'));

    /// <summary>RFC 8707 §2: an absolute URI, no fragment.</summary>
    public static bool IsResource(string resource) =>
        resource.Length is > 0 and <= MaxResourceLength
        && !resource.Contains('#')
        && !resource.Any(char.IsWhiteSpace)
        && Uri.TryCreate(resource, UriKind.Absolute, out _);

    private static string Canonical(string scope) => string.Join(' ', Tokens(scope).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal));
}
