using System.Text.Json.Serialization;

namespace FunctionsAuth.OAuth;

/// <summary>A token endpoint's JSON answer, success or error (RFC 6749 §5.1, §5.2).</summary>
internal sealed class TokenResponse
{
    [JsonPropertyName("access_token")]
    public string? AccessToken { get; set; }

    [JsonPropertyName("token_type")]
    public string? TokenType { get; set; }

    // Some providers send expires_in as a string.
    [JsonPropertyName("expires_in")]
    [JsonNumberHandling(JsonNumberHandling.AllowReadingFromString)]
    public long? ExpiresIn { get; set; }

    [JsonPropertyName("refresh_token")]
    public string? RefreshToken { get; set; }

    [JsonPropertyName("scope")]
    public string? Scope { get; set; }

    [JsonPropertyName("id_token")]
    public string? IdToken { get; set; }

    [JsonPropertyName("error")]
    public string? Error { get; set; }
}

[JsonSerializable(typeof(TokenResponse))]
[JsonSerializable(typeof(DiscoveryDocument))]
internal sealed partial class OAuthJsonContext : JsonSerializerContext;
