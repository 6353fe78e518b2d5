using FunctionsAuth.Diagnostics;
using FunctionsAuth.Functions;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace FunctionsAuth.LocalHost;

/// <summary>
/// Serves the Functions app's own function classes on Kestrel for machines without Azure Functions Core Tools:
/// same routes (<c>api/</c> prefix), same function-key check, timer functions on their schedules, queue functions on their queues, configuration
/// read like the Functions host reads it (<c>local.settings.json</c> Values, then environment variables).
/// </summary>
public static class LocalFunctionsHost
{
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args });
        builder.Configuration.AddFunctionsHostJson(builder.Environment.ContentRootPath);
        builder.Configuration.AddFunctionsLocalSettings(builder.Environment.ContentRootPath, args);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddSimpleConsole(console => console.SingleLine = true);
        builder.Services.AddFunctionsAuth();
        builder.Services.AddFunctionsAuthTelemetry(builder.Configuration, static telemetry => telemetry.WithTracing(static tracing => tracing.AddAspNetCoreInstrumentation()));
        var catalog = FunctionCatalog.FromAssembly(typeof(AuthFunctions).Assembly);
        builder.Services.AddSingleton(catalog);
        builder.Services.AddSingleton<FunctionKeys>();
        builder.Services.AddHostedService<TimerScheduler>();
        builder.Services.AddHostedService<QueueTriggerHost>();
        configure?.Invoke(builder);

        var app = builder.Build();
        app.MapFunctions(catalog);
        return app;
    }
}
