using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;

namespace FunctionsAuth.Api;

/// <summary>A response of the HTTP contract: status, JSON body, optional Retry-After. Never cached by anyone.</summary>
public sealed class ApiResult
{
    private ApiResult(int status, byte[]? body, TimeSpan? retryAfter, string? error = null)
    {
        Status = status;
        ErrorCode = error;
        Body = body;
        RetryAfter = retryAfter;
    }

    public int Status { get; }

    /// <summary>UTF-8 JSON, or null for 204.</summary>
    public byte[]? Body { get; }

    public TimeSpan? RetryAfter { get; }

    /// <summary>The contract's error code (<c>invalid_grant</c>...), or null for a success.</summary>
    internal string? ErrorCode { get; }

    /// <summary>For a success that metrics tell apart (a refresh's <see cref="RefreshOutcomes"/>): which one; otherwise null.</summary>
    internal string? Outcome { get; private init; }

    internal ApiResult WithOutcome(string outcome) => new(Status, Body, RetryAfter, ErrorCode) { Outcome = outcome };

    internal static ApiResult Json<T>(int status, T value, JsonTypeInfo<T> typeInfo, TimeSpan? retryAfter = null) =>
        new(status, JsonSerializer.SerializeToUtf8Bytes(value, typeInfo), retryAfter);

    internal static ApiResult Error(int status, string error, string description, TimeSpan? retryAfter = null) =>
        new(status, JsonSerializer.SerializeToUtf8Bytes(new ErrorResponse(error, description), ApiJsonContext.Default.ErrorResponse), retryAfter, error);

    internal static ApiResult NoContent() => new(StatusCodes.Status204NoContent, null, null);

    public async Task WriteToAsync(HttpResponse response, CancellationToken cancellationToken)
    {
        response.StatusCode = Status;

        // Bodies carry tokens: no proxy or browser may keep them (RFC 6749 §5.1).
        response.Headers.CacheControl = "no-store";
        response.Headers.Pragma = "no-cache";

        // JSON only: no browser may sniff a body (which can echo caller input) into something it renders.
        response.Headers.XContentTypeOptions = "nosniff";
        if (RetryAfter is { } retryAfter)
        {
            var seconds = Math.Max(1, (long)Math.Ceiling(retryAfter.TotalSeconds));
            response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        }

        if (Body is not null)
        {
            response.ContentType = "application/json; charset=utf-8";
            response.ContentLength = Body.Length;
            await response.Body.WriteAsync(Body, cancellationToken);
        }
    }
}

/// <summary>How <c>/api/auth/refresh</c> answered with a token (the <c>outcome</c> tag of <c>functionsauth.refresh.requests</c>; errors carry their contract code).</summary>
internal static class RefreshOutcomes
{
    /// <summary>The stored access token met <c>min_ttl</c>: no provider call.</summary>
    public const string ServedFromStorage = "served_from_storage";

    /// <summary>This call refreshed at the provider (or waited for the flight that did).</summary>
    public const string Refreshed = "refreshed";

    /// <summary>The stored token does not meet <c>min_ttl</c> but is still valid, and the provider is failing: served rather than fail.</summary>
    public const string ServedStale = "served_stale";
}
