using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Serialization;

namespace FunctionsAuth.Tests.Infrastructure;

public sealed record SessionCreated(
    [property: JsonPropertyName("session")] string Session,
    [property: JsonPropertyName("access_token")] string AccessToken,
    [property: JsonPropertyName("token_type")] string TokenType,
    [property: JsonPropertyName("expires_at")] long ExpiresAt,
    [property: JsonPropertyName("scope")] string? Scope,
    [property: JsonPropertyName("id_token")] string? IdToken);

public sealed record TokenAnswer(
    [property: JsonPropertyName("access_token")] string AccessToken,
    [property: JsonPropertyName("token_type")] string TokenType,
    [property: JsonPropertyName("expires_at")] long ExpiresAt,
    [property: JsonPropertyName("scope")] string? Scope,
    [property: JsonPropertyName("refreshed")] bool Refreshed);

public sealed record ErrorAnswer(
    [property: JsonPropertyName("error")] string Error,
    [property: JsonPropertyName("error_description")] string ErrorDescription);

public static class Expect
{
    /// <summary>Asserts the status; on mismatch the failure shows the body (test bodies carry no real secrets).</summary>
    public static async Task StatusAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        if (response.StatusCode != expected)
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.Fail($"Expected {(int)expected} {expected}, got {(int)response.StatusCode} {response.StatusCode}: {body}");
        }
    }

    public static async Task<TokenAnswer> TokenAsync(HttpResponseMessage response)
    {
        await StatusAsync(response, HttpStatusCode.OK);
        Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        Assert.Contains("no-store", response.Headers.CacheControl?.ToString() ?? "");
        return (await response.Content.ReadFromJsonAsync<TokenAnswer>())!;
    }

    /// <summary>Asserts an error in the contract's shape: status, OAuth-style code, a description.</summary>
    public static async Task<ErrorAnswer> ErrorAsync(HttpResponseMessage response, HttpStatusCode status, string error)
    {
        await StatusAsync(response, status);
        Assert.StartsWith("application/json", response.Content.Headers.ContentType?.ToString());
        var answer = (await response.Content.ReadFromJsonAsync<ErrorAnswer>())!;
        Assert.Equal(error, answer.Error);
        Assert.False(string.IsNullOrWhiteSpace(answer.ErrorDescription));
        return answer;
    }
}
