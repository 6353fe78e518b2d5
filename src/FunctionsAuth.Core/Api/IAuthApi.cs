using FunctionsAuth.Callers;

namespace FunctionsAuth.Api;

/// <summary>
/// The HTTP contract of DESIGN.md, independent of the host: a function class hands the request body in and writes the
/// <see cref="ApiResult"/> out, with the request's <see cref="CallerCredentials"/> (only headers the platform vouches
/// for: see <see cref="CallerOptions"/>). Public so hosts can depend on it; the implementation stays internal and DI builds it.
/// </summary>
public interface IAuthApi
{
    /// <summary><c>POST /api/auth/sessions</c>.</summary>
    Task<ApiResult> CreateSessionAsync(Stream body, CallerCredentials caller, CancellationToken cancellationToken);

    /// <summary><c>POST /api/auth/refresh</c>.</summary>
    Task<ApiResult> RefreshAsync(Stream body, CallerCredentials caller, CancellationToken cancellationToken);

    /// <summary><c>POST /api/auth/revoke</c>.</summary>
    Task<ApiResult> RevokeAsync(Stream body, CallerCredentials caller, CancellationToken cancellationToken);

    /// <summary><c>GET /api/health</c>: which dependency failed goes to the log, not to the anonymous caller.</summary>
    Task<ApiResult> HealthAsync(CancellationToken cancellationToken);
}
