using FunctionsAuth.Api;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace FunctionsAuth.Functions;

/// <summary>The HTTP contract's endpoints: each hands the body to <see cref="IAuthApi"/> and writes its answer.</summary>
public sealed class AuthFunctions(IAuthApi api)
{
    [Function("CreateSession")]
    public async Task<IActionResult> CreateSession(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "auth/sessions")] HttpRequest request,
        CancellationToken cancellationToken) =>
        new ApiActionResult(await api.CreateSessionAsync(request.Body, cancellationToken));

    [Function("Refresh")]
    public async Task<IActionResult> Refresh(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "auth/refresh")] HttpRequest request,
        CancellationToken cancellationToken) =>
        new ApiActionResult(await api.RefreshAsync(request.Body, cancellationToken));

    [Function("Revoke")]
    public async Task<IActionResult> Revoke(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "auth/revoke")] HttpRequest request,
        CancellationToken cancellationToken) =>
        new ApiActionResult(await api.RevokeAsync(request.Body, cancellationToken));

    [Function("Health")]
    public async Task<IActionResult> Health(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "health")] HttpRequest request,
        CancellationToken cancellationToken) =>
        new ApiActionResult(await api.HealthAsync(cancellationToken));
}
