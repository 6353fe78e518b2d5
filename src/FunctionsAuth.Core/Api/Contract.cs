using System.Text.Json.Serialization;

namespace FunctionsAuth.Api;

internal sealed class CreateSessionRequest
{
    [JsonPropertyName("provider")]
    public string? Provider { get; set; }

    [JsonPropertyName("code")]
    public string? Code { get; set; }

    [JsonPropertyName("code_verifier")]
    public string? CodeVerifier { get; set; }

    [JsonPropertyName("redirect_uri")]
    public string? RedirectUri { get; set; }

    [JsonPropertyName("refresh_token")]
    public string? RefreshToken { get; set; }

    [JsonPropertyName("access_token")]
    public string? AccessToken { get; set; }

    [JsonPropertyName("expires_at")]
    public long? ExpiresAt { get; set; }

    [JsonPropertyName("scope")]
    public string? Scope { get; set; }

    [JsonPropertyName("subject")]
    public string? Subject { get; set; }
}

internal sealed class RefreshRequest
{
    [JsonPropertyName("session")]
    public string? Session { get; set; }

    [JsonPropertyName("min_ttl")]
    public long? MinTtl { get; set; }

    /// <summary>Optional: a narrower scope (space-separated) for a token of its own; see <see cref="Sessions.TokenScope"/>.</summary>
    [JsonPropertyName("scope")]
    public string? Scope { get; set; }

    /// <summary>Optional: the resource (RFC 8707) the token is for.</summary>
    [JsonPropertyName("resource")]
    public string? Resource { get; set; }
}

internal sealed class RevokeRequest
{
    [JsonPropertyName("session")]
    public string? Session { get; set; }

    /// <summary>Optional: revoke the grant at the provider (true) or only delete the session (false); absent, the provider's <c>SignOutRevocation</c> decides.</summary>
    [JsonPropertyName("revoke_grant")]
    public bool? RevokeGrant { get; set; }
}

internal sealed record SessionCreatedResponse(
    [property: JsonPropertyName("session")] string Session,
    [property: JsonPropertyName("access_token")] string AccessToken,
    [property: JsonPropertyName("token_type")] string TokenType,
    [property: JsonPropertyName("expires_at")] long ExpiresAt,
    [property: JsonPropertyName("scope")] string? Scope,
    [property: JsonPropertyName("id_token"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? IdToken);

internal sealed record AccessTokenResponse(
    [property: JsonPropertyName("access_token")] string AccessToken,
    [property: JsonPropertyName("token_type")] string TokenType,
    [property: JsonPropertyName("expires_at")] long ExpiresAt,
    [property: JsonPropertyName("scope")] string? Scope,
    [property: JsonPropertyName("refreshed")] bool Refreshed);

internal sealed record ErrorResponse(
    [property: JsonPropertyName("error")] string Error,
    [property: JsonPropertyName("error_description")] string ErrorDescription);

internal sealed record HealthResponse([property: JsonPropertyName("status")] string Status);

[JsonSourceGenerationOptions(
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    AllowDuplicateProperties = false,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(CreateSessionRequest))]
[JsonSerializable(typeof(RefreshRequest))]
[JsonSerializable(typeof(RevokeRequest))]
[JsonSerializable(typeof(SessionCreatedResponse))]
[JsonSerializable(typeof(AccessTokenResponse))]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(HealthResponse))]
internal sealed partial class ApiJsonContext : JsonSerializerContext;
