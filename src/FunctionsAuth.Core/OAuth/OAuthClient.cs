using System.Net;
using System.Net.Http.Headers;
using FunctionsAuth.Configuration;
using FunctionsAuth.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.OAuth;

/// <summary>
/// Talks to providers' token and revocation endpoints. Token requests go through the provider's Polly pipeline
/// (<see cref="ProviderResilience"/>: retry only when the provider cannot have processed the request, a circuit per
/// provider); an <c>invalid_client</c> is sent again once after reloading the client secret. A rotating refresh token
/// is never sent twice in a way that could spend it twice, except inside the provider's declared reuse interval.
/// Every time-out here runs on the injected <see cref="TimeProvider"/>.
/// </summary>
internal sealed class OAuthClient(
    IHttpClientFactory httpClientFactory,
    ProviderRegistry providers,
    ClientAuthenticator clientAuthentication,
    ProviderResilience resilience,
    FunctionsAuthMetrics metrics,
    TimeProvider time,
    IOptions<FunctionsAuthOptions> options,
    ILogger<OAuthClient> logger)
{
    public const string HttpClientName = "FunctionsAuth.OAuth";

    /// <summary>Retry-After given to callers when the provider named none.</summary>
    private static readonly TimeSpan DefaultRetryAfter = TimeSpan.FromSeconds(5);

    /// <summary>Per provider: whether its last successful refresh carried a new refresh token. Unknown counts as rotating.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> rotatingProviders = new(StringComparer.OrdinalIgnoreCase);

    /// <param name="scope">A narrower scope than the grant's (RFC 6749 §6); null: the provider's configured <c>Scopes</c>, if any.</param>
    /// <param name="resource">The resource the access token is for (RFC 8707 §2.2), or null.</param>
    public Task<TokenResult> RefreshAsync(string provider, string refreshToken, CancellationToken cancellationToken, string? scope = null, string? resource = null) =>
        SendTokenRequestAsync(
            provider,
            "refresh_token",
            descriptor =>
            {
                KeyValuePair<string, string>[] grant = [new("grant_type", "refresh_token"), new("refresh_token", refreshToken)];
                return (scope is null ? descriptor.Scopes : WithOfflineAccess(descriptor, scope), resource) switch
                {
                    ({ Length: > 0 } scopes, { } target) => [.. grant, new("scope", scopes), new("resource", target)],
                    ({ Length: > 0 } scopes, null) => [.. grant, new("scope", scopes)],
                    (_, { } target) => [.. grant, new("resource", target)],
                    _ => grant,
                };
            },
            cancellationToken);

    /// <summary>
    /// Entra ID issues a new refresh token only to a request that asks for <c>offline_access</c>: a scoped refresh asks
    /// for it as the session's own does, where the configured <c>Scopes</c> ask for it, so every refresh renews the one
    /// refresh token whatever token it was for.
    /// </summary>
    private static string WithOfflineAccess(ProviderDescriptor descriptor, string scope) =>
        descriptor.Kind == ProviderKind.Entra
        && HasOfflineAccess(descriptor.Scopes ?? "")
        && !HasOfflineAccess(scope)
            ? scope + " offline_access"
            : scope;

    internal static bool HasOfflineAccess(string scopes) =>
        scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains("offline_access", StringComparer.OrdinalIgnoreCase);

    /// <param name="redirectUri">Sent exactly as received: RFC 6749 §4.1.3 (and Entra ID) compare it as a string.</param>
    public Task<TokenResult> RedeemCodeAsync(string provider, string code, string codeVerifier, string redirectUri, CancellationToken cancellationToken) =>
        SendTokenRequestAsync(
            provider,
            "authorization_code",
            _ => [new("grant_type", "authorization_code"), new("code", code), new("code_verifier", codeVerifier), new("redirect_uri", redirectUri)],
            cancellationToken);

    /// <summary>RFC 7009. False when the provider has no revocation endpoint or did not confirm; revocation is best effort.</summary>
    public async Task<bool> RevokeAsync(string provider, string token, string tokenTypeHint, CancellationToken cancellationToken)
    {
        ProviderDescriptor descriptor;
        try
        {
            descriptor = await providers.GetAsync(provider, cancellationToken);
        }
        catch (Exception ex) when (IsTransportFailure(ex, cancellationToken))
        {
            Log.RevocationFailed(logger, provider, "discovery_unavailable");
            return false;
        }
        catch (ProviderDiscoveryException ex)
        {
            Log.DiscoveryInvalid(logger, provider, ex.Message);
            return false;
        }

        if (descriptor.RevocationEndpoint is null)
        {
            return false;
        }

        var secret = await GetClientSecretAsync(descriptor, refresh: false, cancellationToken);
        using var request = BuildRequest(descriptor, descriptor.RevocationEndpoint, secret, [new("token", token), new("token_type_hint", tokenTypeHint)]);
        using var timeout = new Deadline(options.Value.ProviderTimeout, time, cancellationToken);
        try
        {
            using var response = await httpClientFactory.CreateClient(HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            metrics.ProviderRequest(provider, "revocation", response.IsSuccessStatusCode ? "ok" : "failed");
            if (!response.IsSuccessStatusCode)
            {
                Log.RevocationFailed(logger, provider, ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (IsTransportFailure(ex, cancellationToken))
        {
            metrics.ProviderRequest(provider, "revocation", "unavailable");
            Log.RevocationFailed(logger, provider, ex is OperationCanceledException ? "timeout" : "connection_failed");
            return false;
        }
    }

    /// <summary>
    /// Asks the provider's userinfo endpoint (OpenID Connect Core §5.3) whether it issued <paramref name="accessToken"/>:
    /// a 200 means it did and the token is live. Not through the circuit: a refusal is an answer about this token, and
    /// a userinfo outage must not stop refreshes. Never retried (a GET spends nothing, but the caller can retry).
    /// </summary>
    public async Task<AccessTokenCheck> VerifyAccessTokenAsync(string provider, string accessToken, CancellationToken cancellationToken)
    {
        ProviderDescriptor descriptor;
        try
        {
            descriptor = await providers.GetAsync(provider, cancellationToken);
        }
        catch (Exception ex) when (IsTransportFailure(ex, cancellationToken))
        {
            Log.DiscoveryUnavailable(logger, provider);
            return AccessTokenCheck.Unavailable;
        }
        catch (ProviderDiscoveryException ex)
        {
            Log.DiscoveryInvalid(logger, provider, ex.Message);
            return AccessTokenCheck.ProviderError;
        }

        if (descriptor.UserInfoEndpoint is null)
        {
            return AccessTokenCheck.NotSupported;
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, descriptor.UserInfoEndpoint);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        using var timeout = new Deadline(options.Value.ProviderTimeout, time, cancellationToken);
        AccessTokenCheck check;
        try
        {
            using var response = await httpClientFactory.CreateClient(HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var status = (int)response.StatusCode;
            check = response.IsSuccessStatusCode
                ? AccessTokenCheck.Vouched
                : status is 400 or 401 or 403
                    ? AccessTokenCheck.Refused
                    : status == 429 || status >= 500 ? AccessTokenCheck.Unavailable : AccessTokenCheck.ProviderError;
        }
        catch (Exception ex) when (IsTransportFailure(ex, cancellationToken))
        {
            check = AccessTokenCheck.Unavailable;
        }

        metrics.ProviderRequest(provider, "userinfo", check switch
        {
            AccessTokenCheck.Vouched => "ok",
            AccessTokenCheck.Refused => "refused",
            AccessTokenCheck.Unavailable => "unavailable",
            _ => "provider_error",
        });
        if (check != AccessTokenCheck.Vouched)
        {
            Log.AccessTokenNotVouched(logger, provider, check);
        }

        return check;
    }

    private async Task<TokenResult> SendTokenRequestAsync(
        string provider,
        string grantType,
        Func<ProviderDescriptor, KeyValuePair<string, string>[]> parameters,
        CancellationToken cancellationToken)
    {
        ProviderDescriptor descriptor;
        try
        {
            descriptor = await providers.GetAsync(provider, cancellationToken);
        }
        catch (Exception ex) when (IsTransportFailure(ex, cancellationToken))
        {
            Log.DiscoveryUnavailable(logger, provider);
            return TokenResult.Failed(TokenFailureKind.Unavailable, "discovery_unavailable", DefaultRetryAfter);
        }
        catch (ProviderDiscoveryException ex)
        {
            // A broken document is not an outage: the caller gets 502 provider_error, and the next call looks again.
            Log.DiscoveryInvalid(logger, provider, ex.Message);
            return TokenResult.Failed(TokenFailureKind.Rejected, "discovery_invalid");
        }

        var body = parameters(descriptor);
        var secret = await GetClientSecretAsync(descriptor, refresh: false, cancellationToken);
        var secretReloaded = false;
        var call = new TokenCall(grantType, grantType == "refresh_token" ? RefreshTokenReuseInterval(provider) : TimeSpan.Zero);
        while (true)
        {
            var result = await resilience.ExecuteAsync(provider, call, token => SendOnceAsync(descriptor, grantType, secret, body, token), cancellationToken);
            if (result.Error == TokenErrors.CircuitOpen)
            {
                metrics.ProviderRequest(provider, grantType, TokenErrors.CircuitOpen);
                return result;
            }

            if (grantType == "refresh_token" && result.Succeeded)
            {
                rotatingProviders[provider] = result.Tokens.RefreshToken is not null;
            }

            if (result.Failure == TokenFailureKind.InvalidClient && !secretReloaded && ClientAuthenticator.CanReload(descriptor))
            {
                // The secret may have been rotated in Key Vault: reload it once. Client authentication failed before the
                // grant was looked at, so sending the same refresh token again cannot spend it twice.
                secretReloaded = true;
                Log.ClientSecretReloaded(logger, provider);
                secret = await GetClientSecretAsync(descriptor, refresh: true, cancellationToken);
                continue;
            }

            // The pipeline saw the provider's own Retry-After (or none); callers always get one.
            return result.WithRetryAfterIfNone(DefaultRetryAfter);
        }
    }

    /// <summary>The provider's <c>RefreshTokenReuseInterval</c>; zero when it has none (or is no longer configured).</summary>
    private TimeSpan RefreshTokenReuseInterval(string provider) =>
        options.Value.Providers.TryGetValue(provider, out var configured) ? configured.RefreshTokenReuseInterval : TimeSpan.Zero;

    private async Task<TokenResult> SendOnceAsync(
        ProviderDescriptor descriptor,
        string grantType,
        ClientCredentials secret,
        KeyValuePair<string, string>[] parameters,
        CancellationToken cancellationToken)
    {
        using var request = BuildRequest(descriptor, descriptor.TokenEndpoint, secret, parameters);
        using var timeout = new Deadline(options.Value.ProviderTimeout, time, cancellationToken);
        var started = time.GetTimestamp();
        TokenResult result;
        try
        {
            using var response = await httpClientFactory.CreateClient(HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            result = await ReadResponseAsync(response, SpendsItsGrant(descriptor.Name, grantType), timeout.Token);
        }
        catch (HttpRequestException ex) when (ex.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError)
        {
            // Nothing reached the provider.
            result = TokenResult.Failed(TokenFailureKind.Unavailable, "connection_failed");
        }
        catch (HttpRequestException)
        {
            // The request may have been read and processed; the answer was lost.
            result = TokenResult.Failed(TokenFailureKind.OutcomeUnknown, "connection_dropped", DefaultRetryAfter);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            result = TokenResult.Failed(TokenFailureKind.OutcomeUnknown, "timeout", DefaultRetryAfter);
        }

        metrics.ProviderRequest(descriptor.Name, grantType, result.Succeeded ? "ok" : result.Error ?? "failed", time.GetElapsedTime(started));
        if (!result.Succeeded)
        {
            Log.TokenRequestFailed(logger, descriptor.Name, grantType, result.Failure!.Value, result.Error ?? "");
        }

        return result;
    }

    /// <summary>
    /// Whether a request of this grant, once processed, cannot be sent again: an authorization code is single-use, and a
    /// provider that rotates refresh tokens (or that has not shown yet that it does not) spends the one it was sent.
    /// </summary>
    private bool SpendsItsGrant(string provider, string grantType) =>
        grantType != "refresh_token" || !rotatingProviders.TryGetValue(provider, out var rotates) || rotates;

    private async Task<TokenResult> ReadResponseAsync(HttpResponseMessage response, bool spendsItsGrant, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        if (response.StatusCode == HttpStatusCode.TooManyRequests)
        {
            return TokenResult.Failed(TokenFailureKind.Unavailable, TokenErrors.RateLimited, RetryAfter(response));
        }

        if (response.StatusCode == HttpStatusCode.ServiceUnavailable || (status >= 500 && !spendsItsGrant))
        {
            // 503 means "not processed, come back later" (RFC 9110 §15.6.4): safe to send again.
            return TokenResult.Failed(TokenFailureKind.Unavailable, TokenErrors.ServerError, RetryAfter(response));
        }

        if (status >= 500)
        {
            // A 500, 502 or 504 can come after the provider committed the rotation (a crash after the write, a gateway
            // time-out): sending the same token again could spend it twice, so the outcome is unknown, not a retry.
            return TokenResult.Failed(TokenFailureKind.OutcomeUnknown, TokenErrors.ServerError, RetryAfter(response) ?? DefaultRetryAfter);
        }

        var body = await TokenResponse.ReadAsync(response.Content, cancellationToken);
        if (response.IsSuccessStatusCode)
        {
            // A 200 carrying tokens is kept whatever else is odd about it: with rotation its refresh token is the only
            // one that still works. An error in a 200 is an error; a 200 with neither is unreadable, its outcome unknown.
            if (body?.AccessToken is { } accessToken)
            {
                return TokenResult.Success(new TokenSet(accessToken, body.TokenType ?? "Bearer", body.ExpiresIn, body.RefreshToken, body.Scope, body.IdToken, body.RefreshExpiresIn));
            }

            return body?.Error is { } errorIn200 ? Rejection(response, errorIn200) : TokenResult.Failed(TokenFailureKind.OutcomeUnknown, "invalid_response", DefaultRetryAfter);
        }

        if (body?.Error is { } error)
        {
            return Rejection(response, error);
        }

        // No OAuth error body (a gateway's HTML page, an empty 401): the provider refused the request all the same.
        return response.StatusCode == HttpStatusCode.Unauthorized
            ? TokenResult.Failed(TokenFailureKind.InvalidClient, "http_401")
            : TokenResult.Failed(TokenFailureKind.Rejected, "http_" + status.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    private TokenResult Rejection(HttpResponseMessage response, string error) => error switch
    {
        "invalid_grant" => TokenResult.Failed(TokenFailureKind.InvalidGrant, "invalid_grant"),

        // Entra ID (and OpenID Connect Core §3.1.2.6) answer these on refresh when the user must act: MFA enrolment,
        // Conditional Access, new consent. MSAL treats them as "sign in again", and so does the contract.
        "interaction_required" or "consent_required" or "login_required" => TokenResult.Failed(TokenFailureKind.InvalidGrant, error),
        "invalid_client" => TokenResult.Failed(TokenFailureKind.InvalidClient, error),
        "unauthorized_client" when response.StatusCode == HttpStatusCode.Unauthorized => TokenResult.Failed(TokenFailureKind.InvalidClient, error),
        // RFC 6749 §5.2 and RFC 8707 §2: the scope or resource asked for is not granted; the refresh token is untouched.
        "invalid_scope" or "invalid_target" => TokenResult.Failed(TokenFailureKind.InvalidScope, error),
        "temporarily_unavailable" => TokenResult.Failed(TokenFailureKind.Unavailable, "temporarily_unavailable", RetryAfter(response)),
        _ => TokenResult.Failed(TokenFailureKind.Rejected, error),
    };

    private static HttpRequestMessage BuildRequest(ProviderDescriptor descriptor, Uri endpoint, ClientCredentials credentials, KeyValuePair<string, string>[] parameters)
    {
        var form = new List<KeyValuePair<string, string>>(parameters.Length + 3);
        form.AddRange(parameters);
        var request = new HttpRequestMessage(HttpMethod.Post, endpoint);
        credentials.Apply(request, form, descriptor);
        request.Content = new FormUrlEncodedContent(form);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        return request;
    }

    /// <summary>The client's credentials (a secret, a signing key, the managed identity's assertion); see <see cref="ClientAuthenticator"/>.</summary>
    private ValueTask<ClientCredentials> GetClientSecretAsync(ProviderDescriptor descriptor, bool refresh, CancellationToken cancellationToken) =>
        clientAuthentication.GetAsync(descriptor, refresh, cancellationToken);

    private TimeSpan? RetryAfter(HttpResponseMessage response) => RetryAfter(response, time.GetUtcNow());

    internal static TimeSpan? RetryAfter(HttpResponseMessage response, DateTimeOffset now)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta)
        {
            return delta < TimeSpan.Zero ? TimeSpan.Zero : delta;
        }

        if (header?.Date is { } date)
        {
            // An HTTP-date is relative to the answer's Date header, or to our clock when the provider sent none.
            var delay = date - (response.Headers.Date ?? now);
            return delay > TimeSpan.Zero ? delay : TimeSpan.Zero;
        }

        return null;
    }

    private static bool IsTransportFailure(Exception ex, CancellationToken cancellationToken) =>
        ex is HttpRequestException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested);
}

/// <summary>What a provider's userinfo endpoint said about an access token.</summary>
internal enum AccessTokenCheck
{
    /// <summary>200: the provider issued it and it is live.</summary>
    Vouched,

    /// <summary>400, 401 or 403: not a token the provider accepts (forged, expired, revoked).</summary>
    Refused,

    /// <summary>The provider has no userinfo endpoint (none configured or discovered).</summary>
    NotSupported,

    /// <summary>No answer, 429 or 5xx: nothing is known about the token.</summary>
    Unavailable,

    /// <summary>Discovery unusable, or an answer that fits none of the above (a redirect, say).</summary>
    ProviderError,
}
