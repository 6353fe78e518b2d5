using Microsoft.AspNetCore.Http;

namespace FunctionsAuth.Callers;

/// <summary>What a request carries to identify its caller, as the host hands it in; <see cref="CallerResolver"/> decides what it is worth.</summary>
/// <param name="ClientPrincipal"><c>X-MS-CLIENT-PRINCIPAL</c> (base64 JSON), as App Service Authentication set it.</param>
/// <param name="CallerKey"><c>X-FunctionsAuth-Caller-Key</c>.</param>
public readonly record struct CallerCredentials(string? ClientPrincipal, string? CallerKey)
{
    public const string ClientPrincipalHeader = "X-MS-CLIENT-PRINCIPAL";
    public const string CallerKeyHeader = "X-FunctionsAuth-Caller-Key";

    /// <summary>None: only valid in <see cref="CallerIdentitySource.SingleCaller"/> mode.</summary>
    public static CallerCredentials None => default;

    public static CallerCredentials From(IHeaderDictionary headers) => new(
        headers.TryGetValue(ClientPrincipalHeader, out var principal) && principal.Count == 1 ? principal[0] : null,
        headers.TryGetValue(CallerKeyHeader, out var key) && key.Count == 1 ? key[0] : null);

    // A record struct prints its members: a caller key must not reach a log or a debugger display.
    public override string ToString() => nameof(CallerCredentials);
}

/// <summary>A resolved caller: <c>app:&lt;client id&gt;</c>, <c>key:&lt;name&gt;</c> or <c>default</c>. Not a secret; recorded as a session's owner.</summary>
public readonly record struct CallerId(string Value)
{
    public static CallerId Default { get; } = new("default");

    public override string ToString() => Value;
}
