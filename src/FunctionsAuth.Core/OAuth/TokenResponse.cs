using System.Globalization;
using System.Text.Json;

namespace FunctionsAuth.OAuth;

/// <summary>
/// A token endpoint's answer (RFC 6749 §5.1, §5.2), read leniently: providers send <c>expires_in</c> as a number with a
/// fraction, as a string or empty, and <c>scope</c> as an array. A strict deserializer would fail on those, and a
/// success thrown away as unreadable loses the rotated refresh token with it. Never holds more than the fields below.
/// </summary>
internal sealed class TokenResponse
{
    /// <summary>Token endpoint answers are small; a larger body is not one, and is not read further.</summary>
    internal const int MaxBodyBytes = 64 * 1024;

    public string? AccessToken { get; private init; }

    public string? TokenType { get; private init; }

    public TimeSpan? ExpiresIn { get; private init; }

    /// <summary>
    /// <c>refresh_expires_in</c> (Keycloak; not in RFC 6749): how long the refresh token itself lives, which with Keycloak is
    /// the SSO session's idle time left. Absent or <c>0</c> (Keycloak's offline tokens): unknown, as for most providers.
    /// </summary>
    public TimeSpan? RefreshExpiresIn { get; private init; }

    public string? RefreshToken { get; private init; }

    public string? Scope { get; private init; }

    public string? IdToken { get; private init; }

    /// <summary>The OAuth error code, when it has the shape of one (the free-text description is never kept: it could echo a token).</summary>
    public string? Error { get; private init; }

    /// <summary>Null when the body is not a JSON object (a gateway's HTML page, an empty body, a truncated answer).</summary>
    public static async Task<TokenResponse?> ReadAsync(HttpContent content, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        var buffer = new byte[MaxBodyBytes];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken)) > 0)
        {
            length += read;
        }

        try
        {
            return Parse(buffer.AsMemory(0, length));
        }
        finally
        {
            // The body held tokens.
            Array.Clear(buffer, 0, length);
        }
    }

    internal static TokenResponse? Parse(ReadOnlyMemory<byte> json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            return new TokenResponse
            {
                AccessToken = NonEmptyString(root, "access_token"),
                TokenType = NonEmptyString(root, "token_type"),
                ExpiresIn = Seconds(root, "expires_in"),
                RefreshExpiresIn = Seconds(root, "refresh_expires_in"),
                RefreshToken = NonEmptyString(root, "refresh_token"),
                Scope = ReadScope(root),
                IdToken = NonEmptyString(root, "id_token"),
                Error = NonEmptyString(root, "error") is { } error && IsErrorCode(error) ? error : null,
            };
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? NonEmptyString(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } text ? text : null;

    /// <summary><c>3599</c>, <c>3599.5</c>, <c>"3599"</c>, <c>"3599.0"</c> → 3599 s; absent, empty, zero, negative or absurd → unknown.</summary>
    private static TimeSpan? Seconds(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var value))
        {
            return null;
        }

        double seconds;
        if (value.ValueKind == JsonValueKind.Number)
        {
            seconds = value.GetDouble();
        }
        else if (value.ValueKind != JsonValueKind.String || !double.TryParse(value.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out seconds))
        {
            return null;
        }

        return seconds is >= 1 and < int.MaxValue ? TimeSpan.FromSeconds(Math.Floor(seconds)) : null;
    }

    /// <summary>RFC 6749 says a space-separated string; some providers send an array of strings.</summary>
    private static string? ReadScope(JsonElement root)
    {
        if (!root.TryGetProperty("scope", out var value))
        {
            return null;
        }

        if (value.ValueKind == JsonValueKind.String)
        {
            return value.GetString() is { Length: > 0 } scope ? scope : null;
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        var scopes = new List<string>();
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind == JsonValueKind.String && item.GetString() is { Length: > 0 } scope)
            {
                scopes.Add(scope);
            }
        }

        return scopes.Count > 0 ? string.Join(' ', scopes) : null;
    }

    /// <summary>RFC 6749 §5.2: error codes are printable ASCII; ours are kept only if they look like one (lower case, underscores).</summary>
    private static bool IsErrorCode(string error)
    {
        if (error.Length > 64)
        {
            return false;
        }

        foreach (var c in error)
        {
            if (!(char.IsAsciiLetterLower(c) || c == '_'))
            {
                return false;
            }
        }

        return true;
    }
}
