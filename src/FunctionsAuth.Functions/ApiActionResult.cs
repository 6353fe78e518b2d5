using FunctionsAuth.Api;
using Microsoft.AspNetCore.Mvc;

namespace FunctionsAuth.Functions;

internal sealed class ApiActionResult(ApiResult result) : IActionResult
{
    public Task ExecuteResultAsync(ActionContext context) =>
        result.WriteToAsync(context.HttpContext.Response, context.HttpContext.RequestAborted);
}
