using FunctionsAuth.Diagnostics;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Azure.Functions.Worker.Core.FunctionMetadata;
using Microsoft.Azure.Functions.Worker.OpenTelemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace FunctionsAuth.Functions;

/// <summary>The isolated worker's host: ASP.NET Core integration for the HTTP triggers, FunctionsAuth behind them.</summary>
public static class FunctionsApp
{
    public static IHost Build(string[] args)
    {
        var builder = FunctionsApplication.CreateBuilder(args);
        builder.ConfigureFunctionsWebApplication();
        builder.Services.AddFunctionsAuth();
        // The worker's own spans (one per invocation, correlated with the host's) and its resource attributes.
        builder.Services.AddFunctionsAuthTelemetry(builder.Configuration, static telemetry => telemetry.UseFunctionsWorkerDefaults());
        builder.Services.AddSingleton<IFunctionMetadataTransformer, SettingDefaults>();
        return builder.Build();
    }
}
