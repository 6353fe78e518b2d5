using FunctionsAuth.Api;
using FunctionsAuth.Diagnostics;
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
        CancellationToken cancellationToken)
    {
        using var activity = FunctionsAuthTracing.StartApiCall("sessions");
        var result = await api.CreateSessionAsync(request.Body, cancellationToken);
        FunctionsAuthTracing.RecordStatus(activity, result.Status);
        return new ApiActionResult(result);
    }

    [Function("Refresh")]
    public async Task<IActionResult> Refresh(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "auth/refresh")] HttpRequest request,
        CancellationToken cancellationToken)
    {
        using var activity = FunctionsAuthTracing.StartApiCall("refresh");
        var result = await api.RefreshAsync(request.Body, cancellationToken);
        FunctionsAuthTracing.RecordStatus(activity, result.Status);
        return new ApiActionResult(result);
    }

    [Function("Revoke")]
    public async Task<IActionResult> Revoke(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "auth/revoke")] HttpRequest request,
        CancellationToken cancellationToken)
    {
        using var activity = FunctionsAuthTracing.StartApiCall("revoke");
        var result = await api.RevokeAsync(request.Body, cancellationToken);
        FunctionsAuthTracing.RecordStatus(activity, result.Status);
        return new ApiActionResult(result);
    }

    [Function("Health")]
    public async Task<IActionResult> Health(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "health")] HttpRequest request,
        CancellationToken cancellationToken) =>
        new ApiActionResult(await api.HealthAsync(cancellationToken));
}
