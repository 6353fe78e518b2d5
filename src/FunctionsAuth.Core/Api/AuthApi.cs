using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using FunctionsAuth.Callers;
using FunctionsAuth.Configuration;
using FunctionsAuth.Diagnostics;
using FunctionsAuth.OAuth;
using FunctionsAuth.Protection;
using FunctionsAuth.Secrets;
using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Api;

/// <summary>
/// The HTTP contract of DESIGN.md, independent of the host: reads a request body, validates it, calls the session
/// service and shapes the answer. Function classes only hand the body in and write the <see cref="ApiResult"/> out.
/// </summary>
internal sealed class AuthApi : IAuthApi
{
    public const int MaxBodyBytes = 16 * 1024;
    private const int MaxTokenLength = 8 * 1024;
    private const long MaxMinTtlSeconds = 24 * 60 * 60;
    private const int MaxRedirectUriLength = 2048;
    private const int MaxSubjectLength = 256;
    private static readonly TimeSpan HealthTimeout = TimeSpan.FromSeconds(5);

    private readonly SessionService sessions;
    private readonly OAuthClient oauth;
    private readonly ProviderRegistry providers;
    private readonly SessionStore store;
    private readonly TokenProtector protector;
    private readonly FunctionsAuthMetrics metrics;
    private readonly RegistrationLimiter registrationLimiter;
    private readonly CallerResolver callers;
    private readonly TimeProvider time;
    private readonly IOptions<FunctionsAuthOptions> options;
    private readonly ILogger<AuthApi> logger;

    public AuthApi(
        SessionService sessions,
        OAuthClient oauth,
        ProviderRegistry providers,
        SessionStore store,
        TokenProtector protector,
        FunctionsAuthMetrics metrics,
        RegistrationLimiter registrationLimiter,
        CallerResolver callers,
        TimeProvider time,
        IOptions<FunctionsAuthOptions> options,
        ILogger<AuthApi> logger)
    {
        this.sessions = sessions;
        this.oauth = oauth;
        this.providers = providers;
        this.store = store;
        this.protector = protector;
        this.metrics = metrics;
        this.registrationLimiter = registrationLimiter;
        this.callers = callers;
        this.time = time;
        this.options = options;
        this.logger = logger;
    }

    public Task<ApiResult> CreateSessionAsync(Stream body, CallerCredentials caller, CancellationToken cancellationToken) =>
        HandleAsync(body, caller, ApiJsonContext.Default.CreateSessionRequest, CreateSessionCoreAsync, "sessions", cancellationToken);

    public async Task<ApiResult> RefreshAsync(Stream body, CallerCredentials caller, CancellationToken cancellationToken)
    {
        var result = await HandleAsync(body, caller, ApiJsonContext.Default.RefreshRequest, RefreshCoreAsync, "refresh", cancellationToken);

        // Every answer is counted, bad input and bugs included: an error by its contract code, a token by where it came from.
        metrics.RefreshRequest(result.Outcome ?? result.ErrorCode ?? "unknown");
        return result;
    }

    public Task<ApiResult> RevokeAsync(Stream body, CallerCredentials caller, CancellationToken cancellationToken) =>
        HandleAsync(body, caller, ApiJsonContext.Default.RevokeRequest, RevokeCoreAsync, "revoke", cancellationToken);

    public async Task<ApiResult> HealthAsync(CancellationToken cancellationToken)
    {
        using var timeout = new Deadline(HealthTimeout, time, cancellationToken);
        var storage = CheckAsync("storage", () => store.CheckAsync(timeout.Token));
        var secrets = CheckAsync("secrets", () => protector.CheckAsync(timeout.Token).AsTask());
        var healthy = await storage & await secrets;
        return healthy
            ? ApiResult.Json(StatusCodes.Status200OK, new HealthResponse("healthy"), ApiJsonContext.Default.HealthResponse)
            : ApiResult.Error(StatusCodes.Status503ServiceUnavailable, "unhealthy", "A dependency is unreachable; see the service log.", TimeSpan.FromSeconds(30));
    }

    private async Task<bool> CheckAsync(string dependency, Func<Task> check)
    {
        try
        {
            await check();
            return true;
        }
        catch (Exception ex)
        {
            Log.DependencyUnhealthy(logger, dependency, ex is DependencyUnavailableException outage ? outage.Failure : ex.GetType().Name);
            return false;
        }
    }

    private async Task<ApiResult> CreateSessionCoreAsync(CreateSessionRequest request, CallerId caller, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(request.Provider))
        {
            return InvalidRequest("'provider' is required.");
        }

        if (!providers.IsConfigured(request.Provider))
        {
            return InvalidRequest("Unknown provider.");
        }

        var codeForm = request.Code is not null || request.CodeVerifier is not null || request.RedirectUri is not null;
        var handOverForm = request.RefreshToken is not null || request.AccessToken is not null || request.ExpiresAt is not null;
        if (codeForm == handOverForm)
        {
            return InvalidRequest("Send either 'code', 'code_verifier' and 'redirect_uri', or 'refresh_token' (with optional 'access_token', 'expires_at', 'scope').");
        }

        if (request.Subject is { } subject && !IsValidSubject(subject))
        {
            return InvalidRequest("'subject' must be 1 to 256 characters without control characters.");
        }

        if (handOverForm && !options.Value.HandOver.Enabled)
        {
            return InvalidRequest("The hand-over form is disabled on this deployment (FunctionsAuth:HandOver:Enabled): send 'code', 'code_verifier' and 'redirect_uri'.");
        }

        // Checked before any provider call: a caller whose registrations keep being refused stops costing them, and
        // holds back no other caller's registrations.
        if (registrationLimiter.IsLimited(caller.Value, out var retryAfter))
        {
            return ApiResult.Error(StatusCodes.Status429TooManyRequests, "rate_limited", "Too many registrations were refused by the provider; retry after the delay given.", retryAfter);
        }

        var result = codeForm
            ? await RedeemCodeAsync(request, request.Provider, caller, cancellationToken)
            : await HandOverAsync(request, request.Provider, caller, cancellationToken);
        if (result.Status == StatusCodes.Status400BadRequest && result.ErrorCode == "invalid_grant")
        {
            registrationLimiter.RecordFailure(caller.Value);
        }

        return result;
    }

    private async Task<ApiResult> RedeemCodeAsync(CreateSessionRequest request, string provider, CallerId caller, CancellationToken cancellationToken)
    {
        if (request.Code is not { Length: > 0 and <= MaxTokenLength } code)
        {
            return InvalidRequest("'code' is required.");
        }

        // RFC 7636 §4.1: 43 to 128 unreserved characters.
        if (request.CodeVerifier is not { Length: >= 43 and <= 128 } verifier || !verifier.All(IsUnreserved))
        {
            return InvalidRequest("'code_verifier' must be 43 to 128 characters of [A-Za-z0-9-._~].");
        }

        if (request.RedirectUri is not { Length: <= MaxRedirectUriLength } redirect
            || !Uri.TryCreate(redirect, UriKind.Absolute, out var redirectUri)
            || (redirectUri.Scheme != Uri.UriSchemeHttps && redirectUri.Scheme != Uri.UriSchemeHttp)
            || redirectUri.Fragment.Length > 0)
        {
            return InvalidRequest("'redirect_uri' must be an absolute http(s) URI without a fragment.");
        }

        // RFC 6749 §4.1.3: the very string sent to the authorization endpoint (a parsed Uri would add a trailing slash).
        var result = await oauth.RedeemCodeAsync(provider, code, verifier, redirect, cancellationToken);
        if (result.Tokens is not { } tokens)
        {
            return result.Failure switch
            {
                TokenFailureKind.InvalidGrant when result.Error is not "invalid_grant" => ApiResult.Error(StatusCodes.Status400BadRequest, "invalid_grant", $"The provider requires the user to interact ({result.Error}): sign the user in again."),
                TokenFailureKind.InvalidGrant => ApiResult.Error(StatusCodes.Status400BadRequest, "invalid_grant", "The provider refused the authorization code (expired, used, or the verifier or redirect URI does not match)."),
                TokenFailureKind.Unavailable or TokenFailureKind.OutcomeUnknown => Unavailable(result.Error, result.RetryAfter),
                _ => ProviderError(result.Error),
            };
        }

        if (tokens.RefreshToken is null)
        {
            return ApiResult.Error(StatusCodes.Status400BadRequest, "invalid_grant", "The provider issued no refresh token: request offline access (for example the 'offline_access' scope).");
        }

        CreateOutcome created;
        try
        {
            created = await sessions.CreateAsync(provider, tokens, issuedNow: true, caller, cancellationToken, request.Subject);
        }
        catch (StorageUnavailableException)
        {
            // Nobody will ever hold these tokens: end the grant just issued rather than leave it alive at the provider.
            await oauth.RevokeAsync(provider, tokens.RefreshToken, "refresh_token", CancellationToken.None);
            throw;
        }

        return Created(created.Handle, created.Session, tokens.AccessToken, tokens.IdToken);
    }

    private async Task<ApiResult> HandOverAsync(CreateSessionRequest request, string provider, CallerId caller, CancellationToken cancellationToken)
    {
        if (request.RefreshToken is not { Length: > 0 and <= MaxTokenLength } refreshToken)
        {
            return InvalidRequest("'refresh_token' is required.");
        }

        if (request.AccessToken is { Length: 0 or > MaxTokenLength })
        {
            return InvalidRequest("'access_token' is empty or too long.");
        }

        if (request.ExpiresAt is { } expiresAt && (expiresAt <= 0 || expiresAt > DateTimeOffset.MaxValue.ToUnixTimeSeconds()))
        {
            return InvalidRequest("'expires_at' must be a Unix time in seconds.");
        }

        if (request.ExpiresAt is not null && request.AccessToken is null)
        {
            return InvalidRequest("'expires_at' goes with 'access_token'.");
        }

        // The provider must vouch for a hand-over before it is stored. With an access token that is still live: its
        // userinfo endpoint (a 200 means it issued the token; no provider call spends anything, and the front end's
        // refresh token stays unspent), with expires_at capped by the token's own exp where it is a readable JWT.
        // Otherwise, or when the provider has no userinfo endpoint: one refresh now, which proves the refresh token is
        // live and issued to our client, and gives a token whose lifetime the provider states.
        var now = time.GetUtcNow();
        if (request.AccessToken is { } accessToken && request.ExpiresAt is { } claimed)
        {
            var expiry = DateTimeOffset.FromUnixTimeSeconds(claimed);
            if (AccessTokenClaims.TryReadExpiry(accessToken, out var exp) && exp < expiry)
            {
                expiry = exp;
            }

            if (now + options.Value.HandOver.MaxAccessTokenLifetime is var longest && longest < expiry)
            {
                expiry = longest;
            }

            if (expiry > now)
            {
                switch (await oauth.VerifyAccessTokenAsync(provider, accessToken, cancellationToken))
                {
                    case AccessTokenCheck.Vouched:
                        var handedOver = new TokenSet(accessToken, "Bearer", expiry - now, refreshToken, request.Scope, null);
                        var stored = await sessions.CreateAsync(provider, handedOver, issuedNow: false, caller, cancellationToken, request.Subject);
                        return Created(stored.Handle, stored.Session, accessToken, null);
                    case AccessTokenCheck.Refused:
                        return ApiResult.Error(StatusCodes.Status400BadRequest, "invalid_grant", "The provider did not accept the access token (forged, expired or revoked).");
                    case AccessTokenCheck.Unavailable:
                        return ProviderUnavailable(null);
                    case AccessTokenCheck.ProviderError:
                        return ProviderError("userinfo");
                }
            }
        }

        // No usable access token was handed over: one refresh, before anything is stored, so a refused hand-over
        // writes nothing and the caller leaves with a working token. Not cancellable once sent: a rotated successor
        // must not be dropped halfway.
        var result = await oauth.RefreshAsync(provider, refreshToken, CancellationToken.None);
        if (result.Tokens is not { } tokens)
        {
            return result.Failure switch
            {
                TokenFailureKind.InvalidGrant => ApiResult.Error(StatusCodes.Status400BadRequest, "invalid_grant", "The provider refused the refresh token."),
                TokenFailureKind.Unavailable or TokenFailureKind.OutcomeUnknown => Unavailable(result.Error, result.RetryAfter),
                _ => ProviderError(result.Error),
            };
        }

        // RFC 6749 §6: no new refresh token in the answer means the handed-over one stays valid.
        var refreshed = tokens with { RefreshToken = tokens.RefreshToken ?? refreshToken, Scope = tokens.Scope ?? request.Scope };
        CreateOutcome created;
        try
        {
            created = await sessions.CreateAsync(provider, refreshed, issuedNow: true, caller, cancellationToken, request.Subject);
        }
        catch (StorageUnavailableException) when (tokens.RefreshToken is not null)
        {
            // The provider rotated the token and nobody will ever hold the successor: end the grant rather than leave it alive.
            await oauth.RevokeAsync(provider, tokens.RefreshToken, "refresh_token", CancellationToken.None);
            throw;
        }

        return Created(created.Handle, created.Session, tokens.AccessToken, tokens.IdToken);
    }

    private async Task<ApiResult> RefreshCoreAsync(RefreshRequest request, CallerId caller, CancellationToken cancellationToken)
    {
        if (!SessionHandle.TryGetKey(request.Session, out var key))
        {
            return InvalidRequest("'session' must be a session handle (43 base64url characters).");
        }

        if (request.MinTtl is < 0 or > MaxMinTtlSeconds)
        {
            return InvalidRequest("'min_ttl' must be between 0 and 86400 seconds.");
        }

        // RFC 6749 §5.2 answers a malformed scope with invalid_scope too: the caller learns which field to fix either way.
        if (!TokenScope.TryParse(request.Scope, request.Resource, out var scope, out var scopeError))
        {
            return InvalidScope(scopeError!);
        }

        var minTtl = request.MinTtl is { } seconds ? TimeSpan.FromSeconds(seconds) : options.Value.DefaultMinTtl;
        var outcome = await sessions.GetAccessTokenAsync(key, minTtl, caller, cancellationToken, scope);
        var result = outcome switch
        {
            { Status: RefreshStatus.Current or RefreshStatus.Refreshed, Session: { } session, AccessToken: { } accessToken } =>
                ApiResult.Json(
                    StatusCodes.Status200OK,
                    new AccessTokenResponse(accessToken, session.TokenType ?? "Bearer", ExpiresAt(session), session.Scope, outcome.Status == RefreshStatus.Refreshed),
                    ApiJsonContext.Default.AccessTokenResponse).WithOutcome(outcome switch
                    {
                        { Status: RefreshStatus.Refreshed } => RefreshOutcomes.Refreshed,
                        { ServedStale: true } => RefreshOutcomes.ServedStale,
                        _ => RefreshOutcomes.ServedFromStorage,
                    }),
            { Status: RefreshStatus.ReauthRequired } => ReauthRequired(outcome.Error ?? outcome.Session?.LastError),
            { Status: RefreshStatus.InvalidScope, Error: null } => InvalidScope("The scope or resource is not one this provider allows for this session: a refresh may narrow the session's granted scope, or ask for what the provider's AllowedScopes/AllowedResources list."),
            { Status: RefreshStatus.InvalidScope } => InvalidScope($"The provider refused the scope or resource ({outcome.Error}); the session is unchanged."),
            { Status: RefreshStatus.ProviderError } => ProviderError(outcome.Error),
            { Status: RefreshStatus.Unavailable or RefreshStatus.Busy } => ProviderUnavailable(outcome.RetryAfter),
            { Status: RefreshStatus.RateLimited } => RateLimited(outcome.RetryAfter),
            { Status: RefreshStatus.TemporarilyUnavailable } => TemporarilyUnavailable(outcome.RetryAfter),
            _ => InvalidSession(),
        };
        FunctionsAuthTracing.RefreshOutcome(key, result.Outcome ?? result.ErrorCode ?? "unknown", scoped: scope is not null);
        return result;
    }

    private async Task<ApiResult> RevokeCoreAsync(RevokeRequest request, CallerId caller, CancellationToken cancellationToken)
    {
        if (!SessionHandle.TryGetKey(request.Session, out var key))
        {
            return InvalidRequest("'session' must be a session handle (43 base64url characters).");
        }

        // Another caller's session is left alone and answered 204, as an unknown handle is: nothing tells the two apart.
        return await sessions.RevokeAsync(key, caller, cancellationToken, request.RevokeGrant) == SignOutAction.Refuse
            ? InvalidRequest("'revoke_grant': this provider's grants are never revoked on sign-out (SignOutRevocation=Never: the grant is shared by the user's other sessions); leave it out to delete the session.")
            : ApiResult.NoContent();
    }

    private async Task<ApiResult> HandleAsync<TRequest>(
        Stream body,
        CallerCredentials credentials,
        JsonTypeInfo<TRequest> typeInfo,
        Func<TRequest, CallerId, CancellationToken, Task<ApiResult>> handler,
        string operation,
        CancellationToken cancellationToken)
        where TRequest : class
    {
        var buffer = ArrayPool<byte>.Shared.Rent(MaxBodyBytes + 1);
        var length = 0;
        try
        {
            if (await callers.ResolveAsync(credentials, cancellationToken) is not { } caller)
            {
                return ApiResult.Error(StatusCodes.Status401Unauthorized, "invalid_client", "The caller could not be identified: send this front end's credential (see README, 'Callers').");
            }

            try
            {
                int read;
                while (length <= MaxBodyBytes && (read = await body.ReadAsync(buffer.AsMemory(length, MaxBodyBytes + 1 - length), cancellationToken)) > 0)
                {
                    length += read;
                }
            }
            catch (Exception ex) when (ex is BadHttpRequestException or IOException)
            {
                // A broken chunked encoding, a body shorter than its Content-Length (the caller may be gone already,
                // and then nobody reads this answer): the caller's mistake, not ours.
                Log.UnreadableBody(logger, operation, ex.GetType().Name);
                return InvalidRequest("The request body could not be read (broken chunked encoding or shorter than its Content-Length).");
            }

            if (length > MaxBodyBytes)
            {
                return InvalidRequest("The request body is larger than 16 KiB.");
            }

            if (length == 0)
            {
                return InvalidRequest("A JSON request body is required.");
            }

            TRequest? request;
            try
            {
                request = JsonSerializer.Deserialize(buffer.AsSpan(0, length), typeInfo);
            }
            catch (JsonException)
            {
                // The exception text can quote the body; the caller gets a fixed description instead.
                return InvalidRequest("The request body is not a JSON object of the expected shape.");
            }

            if (request is null)
            {
                return InvalidRequest("The request body must be a JSON object.");
            }

            return await handler(request, caller, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (DependencyUnavailableException ex)
        {
            // Which part failed goes to the log; the caller only needs to know it may retry.
            Log.DependencyUnavailable(logger, operation, ex.Dependency, ex.Failure);
            return TemporarilyUnavailable();
        }
        catch (SecretNotFoundException ex)
        {
            Log.SecretMissing(logger, operation, ex.SecretName);
            return TemporarilyUnavailable();
        }
        catch (InvalidProtectionKeyException ex)
        {
            // A key of the wrong shape in Key Vault: the key-ring load logged which secret and version. Until an operator
            // fixes it nothing can be encrypted, which to the caller is an outage of ours, not a bug to report as 500.
            Log.DependencyUnavailable(logger, operation, "secrets", ex.GetType().Name);
            return TemporarilyUnavailable();
        }
        catch (Exception ex)
        {
            Log.UnhandledError(logger, operation, ex.GetType().FullName ?? "Exception", ex);
            return ApiResult.Error(StatusCodes.Status500InternalServerError, "server_error", "An unexpected error occurred; it has been logged.");
        }
        finally
        {
            // The body held a handle or tokens: do not leave them in a pooled buffer.
            Array.Clear(buffer, 0, length);
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static ApiResult Created(string handle, SessionEntity session, string accessToken, string? idToken) =>
        ApiResult.Json(
            StatusCodes.Status201Created,
            new SessionCreatedResponse(handle, accessToken, session.TokenType ?? "Bearer", ExpiresAt(session), session.Scope, idToken),
            ApiJsonContext.Default.SessionCreatedResponse);

    private static long ExpiresAt(SessionEntity session) => session.AccessTokenExpiresAt?.ToUnixTimeSeconds() ?? 0;

    private static ApiResult InvalidRequest(string description) =>
        ApiResult.Error(StatusCodes.Status400BadRequest, "invalid_request", description);

    private static ApiResult InvalidScope(string description) =>
        ApiResult.Error(StatusCodes.Status400BadRequest, "invalid_scope", description);

    private static ApiResult InvalidSession() =>
        ApiResult.Error(StatusCodes.Status401Unauthorized, "invalid_session", "Unknown, revoked or expired session.");

    /// <summary>The provider's code says why (invalid_grant, interaction_required, consent_required, login_required): front ends may show it.</summary>
    private static ApiResult ReauthRequired(string? reason) =>
        ApiResult.Error(
            StatusCodes.Status401Unauthorized,
            "reauth_required",
            reason is { Length: > 0 } code && code != "invalid_grant"
                ? $"The provider requires the user to sign in again ({code})."
                : "The provider no longer accepts this session's refresh token: sign the user in again.");

    private static ApiResult TemporarilyUnavailable(TimeSpan? retryAfter = null) =>
        ApiResult.Error(StatusCodes.Status503ServiceUnavailable, "temporarily_unavailable", "FunctionsAuth's storage or key vault is not answering; nothing was lost, retry after the delay given.", retryAfter ?? RefreshCoordinator.StorageRetryAfter);

    private static ApiResult ProviderError(string? error) =>
        ApiResult.Error(StatusCodes.Status502BadGateway, "provider_error", $"The provider rejected the request ({error ?? "unknown error"}); check the provider's configuration.");

    /// <summary>A code redemption that did not get through: its TokenResult says which of the two it was.</summary>
    private static ApiResult Unavailable(string? error, TimeSpan? retryAfter) =>
        error == TokenErrors.RateLimited ? RateLimited(retryAfter) : ProviderUnavailable(retryAfter);

    private static ApiResult RateLimited(TimeSpan? retryAfter) =>
        ApiResult.Error(StatusCodes.Status429TooManyRequests, "rate_limited", "The provider is rate-limiting token requests; retry after the delay given.", retryAfter ?? TimeSpan.FromSeconds(5));

    private static ApiResult ProviderUnavailable(TimeSpan? retryAfter) =>
        ApiResult.Error(StatusCodes.Status503ServiceUnavailable, "provider_unavailable", "The provider cannot be reached and no valid access token is stored; retry after the delay given.", retryAfter ?? TimeSpan.FromSeconds(5));

    /// <summary>
    /// 1 to <see cref="MaxSubjectLength"/> Unicode characters (as JSON Schema counts <c>maxLength</c>), none a control
    /// character, and well-formed UTF-16: it goes verbatim into events, which receivers parse and may log.
    /// </summary>
    private static bool IsValidSubject(string subject)
    {
        if (subject.Length is 0 or > MaxSubjectLength * 2)
        {
            return false;
        }

        var characters = 0;
        var rest = subject.AsSpan();
        while (!rest.IsEmpty)
        {
            if (System.Text.Rune.DecodeFromUtf16(rest, out var rune, out var consumed) != System.Buffers.OperationStatus.Done
                || System.Text.Rune.IsControl(rune)
                || ++characters > MaxSubjectLength)
            {
                return false;
            }

            rest = rest[consumed..];
        }

        return true;
    }

    private static bool IsUnreserved(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~';
}
