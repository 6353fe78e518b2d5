using Azure.Identity;
using Azure.Monitor.OpenTelemetry.Exporter;
using FunctionsAuth.OAuth;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace FunctionsAuth.Diagnostics;

public static class TelemetryServiceCollectionExtensions
{
    public const string AzureMonitorSetting = "APPLICATIONINSIGHTS_CONNECTION_STRING";
    public const string OtlpSetting = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>Activity sources of the spans exported: ours, and the Azure SDK's for each storage and Key Vault call.</summary>
    internal static readonly string[] TraceSources = [FunctionsAuthTracing.SourceName, "Azure.Data.Tables.*", "Azure.Security.KeyVault.Secrets.*"];

    /// <summary>
    /// Metrics (meter <c>FunctionsAuth</c>) and traces (<see cref="TraceSources"/>, with a span per provider HTTP call
    /// from the clients <see cref="FunctionsAuthServiceCollectionExtensions.AddFunctionsAuth"/> registers), exported to Azure Monitor when
    /// <c>APPLICATIONINSIGHTS_CONNECTION_STRING</c> is set (ingestion authenticated with the managed identity: the
    /// component accepts nothing else), over OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set, both when both are,
    /// and not at all otherwise. <paramref name="hostInstrumentation"/> adds what only one host has (the worker's or
    /// ASP.NET Core's spans); it runs only when something is exported. Start-up logs which exporters are on.
    /// </summary>
    public static IServiceCollection AddFunctionsAuthTelemetry(
        this IServiceCollection services,
        IConfiguration configuration,
        Action<IOpenTelemetryBuilder>? hostInstrumentation = null)
    {
        // Azure.Core creates spans for its clients only with this switch on (read once, before the first client is used).
        AppContext.SetSwitch("Azure.Experimental.EnableActivitySource", true);

        // Where our sources and meter are; a provider only exists when an exporter (or a test's) registers one.
        services.ConfigureOpenTelemetryTracerProvider(static tracing => tracing.AddSource(TraceSources));
        services.ConfigureOpenTelemetryMeterProvider(static metrics => metrics.AddMeter(FunctionsAuthMetrics.MeterName));

        // A client span per provider call, on the clients AddFunctionsAuth registers (a named client's builder adds to
        // it); without a listener the handler only passes the request on.
        services.AddHttpClient(OAuthClient.HttpClientName).AddHttpMessageHandler(static () => new ProviderCallTracingHandler("oauth"));
        services.AddHttpClient(ProviderRegistry.DiscoveryClientName).AddHttpMessageHandler(static () => new ProviderCallTracingHandler("discovery"));

        var exporters = TelemetryExporters.From(configuration);
        services.AddSingleton(exporters);
        services.AddHostedService<TelemetryStartupLog>();
        if (exporters.None)
        {
            return services;
        }

        var telemetry = services.AddOpenTelemetry();
        hostInstrumentation?.Invoke(telemetry);
        if (exporters.AzureMonitor)
        {
            var connectionString = configuration[AzureMonitorSetting];
            var credential = new DefaultAzureCredential();
            telemetry
                .WithTracing(tracing => tracing.AddAzureMonitorTraceExporter(o => Configure(o, connectionString, credential)))
                .WithMetrics(metrics => metrics.AddAzureMonitorMetricExporter(o => Configure(o, connectionString, credential)));
        }

        if (exporters.Otlp)
        {
            // The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT, _PROTOCOL and _HEADERS itself.
            telemetry
                .WithTracing(static tracing => tracing.AddOtlpExporter())
                .WithMetrics(static metrics => metrics.AddOtlpExporter());
        }

        return services;
    }

    private static void Configure(AzureMonitorExporterOptions options, string? connectionString, DefaultAzureCredential credential)
    {
        options.ConnectionString = connectionString;
        // DefaultAzureCredential picks the user-assigned identity by AZURE_CLIENT_ID, as the storage and Key Vault clients do.
        options.Credential = credential;
    }
}

/// <summary>Which exporters the configuration switches on.</summary>
internal sealed record TelemetryExporters(bool AzureMonitor, bool Otlp)
{
    public bool None => !AzureMonitor && !Otlp;

    public static TelemetryExporters From(IConfiguration configuration) => new(
        !string.IsNullOrWhiteSpace(configuration[TelemetryServiceCollectionExtensions.AzureMonitorSetting]),
        !string.IsNullOrWhiteSpace(configuration[TelemetryServiceCollectionExtensions.OtlpSetting]));

    public override string ToString() => (AzureMonitor, Otlp) switch
    {
        (true, true) => "Azure Monitor and OTLP",
        (true, false) => "Azure Monitor",
        (false, true) => "OTLP",
        _ => "nothing",
    };
}

internal sealed partial class TelemetryStartupLog(TelemetryExporters exporters, ILogger<TelemetryStartupLog> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (exporters.None)
        {
            LogNotExported(logger, TelemetryServiceCollectionExtensions.AzureMonitorSetting, TelemetryServiceCollectionExtensions.OtlpSetting);
        }
        else
        {
            LogExported(logger, exporters.ToString());
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(8000, LogLevel.Information, "Metrics and traces are exported to {Exporters}.")]
    private static partial void LogExported(ILogger logger, string exporters);

    [LoggerMessage(8001, LogLevel.Information, "Metrics and traces are not exported: neither {AzureMonitorSetting} nor {OtlpSetting} is set.")]
    private static partial void LogNotExported(ILogger logger, string azureMonitorSetting, string otlpSetting);
}
