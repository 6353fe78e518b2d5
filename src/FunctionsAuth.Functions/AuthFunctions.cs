using FunctionsAuth.Api;
using FunctionsAuth.Callers;
using FunctionsAuth.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace FunctionsAuth.Functions;

/// <summary>
/// The HTTP contract's endpoints: each hands the body and the caller's credentials to <see cref="IAuthApi"/> and writes
/// its answer. On Azure, App Service Authentication (when on) validated the caller's token before the call and set
/// <c>X-MS-CLIENT-PRINCIPAL</c>, removing any copy the client sent.
/// </summary>
public sealed class AuthFunctions(IAuthApi api)
{
    [Function("CreateSession")]
    public async Task<IActionResult> CreateSession(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "auth/sessions")] HttpRequest request,
        CancellationToken cancellationToken)
    {
        using var activity = FunctionsAuthTracing.StartApiCall("sessions");
        var result = await api.CreateSessionAsync(request.Body, CallerCredentials.From(request.Headers), cancellationToken);
        FunctionsAuthTracing.RecordStatus(activity, result.Status);
        return new ApiActionResult(result);
    }

    [Function("Refresh")]
    public async Task<IActionResult> Refresh(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "auth/refresh")] HttpRequest request,
        CancellationToken cancellationToken)
    {
        using var activity = FunctionsAuthTracing.StartApiCall("refresh");
        var result = await api.RefreshAsync(request.Body, CallerCredentials.From(request.Headers), cancellationToken);
        FunctionsAuthTracing.RecordStatus(activity, result.Status);
        return new ApiActionResult(result);
    }

    [Function("Revoke")]
    public async Task<IActionResult> Revoke(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "auth/revoke")] HttpRequest request,
        CancellationToken cancellationToken)
    {
        using var activity = FunctionsAuthTracing.StartApiCall("revoke");
        var result = await api.RevokeAsync(request.Body, CallerCredentials.From(request.Headers), cancellationToken);
        FunctionsAuthTracing.RecordStatus(activity, result.Status);
        return new ApiActionResult(result);
    }

    [Function("Health")]
    public async Task<IActionResult> Health(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "health")] HttpRequest request,
        CancellationToken cancellationToken) =>
        new ApiActionResult(await api.HealthAsync(cancellationToken));
}
