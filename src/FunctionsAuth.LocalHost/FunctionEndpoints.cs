using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Abstractions;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsAuth.LocalHost;

internal static class FunctionEndpoints
{
    /// <summary>The Functions host's default route prefix (host.json <c>extensions.http.routePrefix</c>).</summary>
    public const string RoutePrefix = "api";

    /// <summary>
    /// Off by default: the local host then removes <c>X-MS-CLIENT-PRINCIPAL*</c> headers, as App Service Authentication
    /// removes copies sent by clients, so no client can claim to be another app. On, it passes them on: for tests
    /// (and a reverse proxy that authenticates callers) standing in for App Service Authentication.
    /// </summary>
    public const string TrustClientPrincipalSetting = "LocalHost:TrustClientPrincipalHeader";

    private static readonly byte[] UnauthorizedBody =
        """{"error":"invalid_client","error_description":"Missing or invalid function key (x-functions-key header or code query parameter)."}"""u8.ToArray();

    public static void MapFunctions(this WebApplication app, FunctionCatalog catalog)
    {
        var keys = app.Services.GetRequiredService<FunctionKeys>();
        var trustClientPrincipal = string.Equals(app.Configuration[TrustClientPrincipalSetting], "true", StringComparison.OrdinalIgnoreCase);
        foreach (var function in catalog.Http)
        {
            if (IsDisabled(app.Configuration, function.Name))
            {
                continue;
            }

            app.MapMethods($"/{RoutePrefix}/{function.Route}", function.Methods, context => InvokeAsync(function, keys, trustClientPrincipal, context))
                .WithName(function.Name);
        }
    }

    /// <summary>The Functions host's switch: app setting <c>AzureWebJobs.&lt;name&gt;.Disabled</c>.</summary>
    public static bool IsDisabled(IConfiguration configuration, string functionName) =>
        bool.TryParse(configuration[$"AzureWebJobs.{functionName}.Disabled"], out var disabled) && disabled;

    private static async Task InvokeAsync(HttpFunction function, FunctionKeys keys, bool trustClientPrincipal, HttpContext context)
    {
        if (!trustClientPrincipal)
        {
            foreach (var header in context.Request.Headers.Keys.Where(h => h.StartsWith("X-MS-CLIENT-PRINCIPAL", StringComparison.OrdinalIgnoreCase)).ToList())
            {
                context.Request.Headers.Remove(header);
            }
        }

        if (function.Level != Microsoft.Azure.Functions.Worker.AuthorizationLevel.Anonymous && !keys.IsAuthorized(context.Request))
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;

            // The same headers as every answer of the contract (ApiResult), though this one carries no token.
            context.Response.Headers.CacheControl = "no-store";
            context.Response.Headers.Pragma = "no-cache";
            context.Response.Headers.XContentTypeOptions = "nosniff";
            context.Response.ContentType = "application/json; charset=utf-8";
            await context.Response.Body.WriteAsync(UnauthorizedBody, context.RequestAborted);
            return;
        }

        // Like the worker: a new instance of the function class per invocation, dependencies from the container.
        var instance = function.Method.IsStatic ? null : ActivatorUtilities.CreateInstance(context.RequestServices, function.Type);
        var arguments = function.Method.GetParameters()
            .Select(p => p.ParameterType == typeof(HttpRequest) ? context.Request : (object)context.RequestAborted)
            .ToArray();

        object? returned;
        try
        {
            returned = function.Method.Invoke(instance, arguments);
        }
        catch (TargetInvocationException ex) when (ex.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(ex.InnerException);
            throw;
        }

        var result = returned switch
        {
            Task<IActionResult> task => await task,
            IActionResult actionResult => actionResult,
            _ => throw new NotSupportedException($"Function {function.Name} must return IActionResult or Task<IActionResult>."),
        };

        await result.ExecuteResultAsync(new ActionContext(context, context.GetRouteData(), new ActionDescriptor()));
    }
}
