using System.Collections.ObjectModel;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Runtime.CompilerServices;
using Azure.Data.Tables;
using FunctionsAuth.Diagnostics;
using FunctionsAuth.Sessions;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace FunctionsAuth.Tests.Diagnostics;

/// <summary>
/// What an operator sees: after a real flow (demo OAuth server, Azurite, the local host) the in-memory exporter holds
/// the metrics with their units and tags and a span tree per API call, and nothing exported names a secret.
/// </summary>
public sealed class TelemetryTests : DemoProviderTestBase
{
    [Fact]
    public async Task RefreshFlow_ExportsMetricsWithNamesUnitsAndTags()
    {
        var telemetry = new ExportedTelemetry();
        await using var host = await Environment.StartHostAsync(telemetry.Configure);

        var created = await host.SignInAsync(Server);
        Environment.Clock.Advance(Lifetime - TimeSpan.FromSeconds(30));
        Assert.True((await Expect.TokenAsync(await host.RefreshAsync(created.Session, minTtl: 60))).Refreshed);
        Assert.False((await Expect.TokenAsync(await host.RefreshAsync(created.Session, minTtl: 60))).Refreshed);
        telemetry.Flush(host.Services);

        var metrics = telemetry.Metrics.Snapshot();
        AssertMetric(metrics, "functionsauth.refresh.requests", "{request}", ("outcome", "refreshed"));
        AssertMetric(metrics, "functionsauth.refresh.requests", "{request}", ("outcome", "served_from_storage"));
        AssertMetric(metrics, "functionsauth.provider.requests", "{request}", ("provider", TestEnvironment.DemoProvider), ("grant_type", "refresh_token"), ("outcome", "ok"));
        AssertMetric(metrics, "functionsauth.provider.request.duration", "s", ("provider", TestEnvironment.DemoProvider), ("grant_type", "authorization_code"), ("outcome", "ok"));
        AssertMetric(metrics, "functionsauth.provider.request.duration", "s", ("provider", TestEnvironment.DemoProvider), ("grant_type", "refresh_token"), ("outcome", "ok"));
        AssertMetric(metrics, "functionsauth.key_ring.loads", "{load}", ("result", "loaded"));
        Assert.All(metrics.Where(m => m.Name == "functionsauth.provider.request.duration"), m => Assert.Equal(MetricType.Histogram, m.MetricType));
    }

    [Fact]
    public async Task RefreshOutcomes_CountedAsServedFromStorageRefreshedServedStaleAndEachErrorCode()
    {
        // Answers a real server will not give on demand (5xx while a token is still valid, invalid_grant) from the scripted one.
        await using var provider = await ScriptedProvider.StartAsync();
        Environment.WithScriptedProvider(provider);
        await using var host = await Environment.StartHostAsync();

        // This host's meters only: an exporter listens to every host's meter of that name, and other tests run alongside.
        using var requests = new MetricCollector<long>(host.Services.GetRequiredService<IMeterFactory>(), FunctionsAuthMetrics.MeterName, "functionsauth.refresh.requests");
        var created = await host.HandOverAsync(TestEnvironment.ScriptedProvider, "handed-over-refresh", "handed-over-access", Environment.Clock.GetUtcNow() + TimeSpan.FromSeconds(40));

        provider.Then(ScriptedResponse.ServerError()).Then(ScriptedResponse.ServerError()).Then(ScriptedResponse.ServerError());
        Assert.False((await Expect.TokenAsync(await host.RefreshAsync(created.Session, minTtl: 60))).Refreshed);
        Assert.False((await Expect.TokenAsync(await host.RefreshAsync(created.Session, minTtl: 10))).Refreshed);
        Environment.Clock.Advance(TimeSpan.FromHours(1));
        provider.Then(ScriptedResponse.ServerError()).Then(ScriptedResponse.ServerError()).Then(ScriptedResponse.ServerError());
        await Expect.ErrorAsync(await host.RefreshAsync(created.Session), System.Net.HttpStatusCode.ServiceUnavailable, "provider_unavailable");
        Environment.Clock.Advance(TimeSpan.FromHours(1));
        provider.Then(ScriptedResponse.Tokens());
        Assert.True((await Expect.TokenAsync(await host.RefreshAsync(created.Session))).Refreshed);
        Environment.Clock.Advance(TimeSpan.FromHours(2));
        provider.Then(ScriptedResponse.OAuthError("invalid_grant"));
        await Expect.ErrorAsync(await host.RefreshAsync(created.Session), System.Net.HttpStatusCode.Unauthorized, "reauth_required");
        await Expect.ErrorAsync(await host.PostJsonAsync("api/auth/refresh", """{"session":"not-a-handle"}"""), System.Net.HttpStatusCode.BadRequest, "invalid_request");
        await Expect.ErrorAsync(await host.RefreshAsync(SessionHandle.Create()), System.Net.HttpStatusCode.Unauthorized, "invalid_session");

        var counts = requests.GetMeasurementSnapshot()
            .GroupBy(m => Convert.ToString(m.Tags["outcome"], CultureInfo.InvariantCulture)!)
            .ToDictionary(g => g.Key, g => g.Sum(m => m.Value));
        Assert.Equal(
            new Dictionary<string, long>
            {
                ["served_stale"] = 1,
                ["served_from_storage"] = 1,
                ["provider_unavailable"] = 1,
                ["refreshed"] = 1,
                ["reauth_required"] = 1,
                ["invalid_request"] = 1,
                ["invalid_session"] = 1,
            },
            counts);
    }

    [Fact]
    public async Task RefreshWaitingForAnotherLeaseHolder_RecordsTheWait()
    {
        var telemetry = new ExportedTelemetry();
        await using var host = await Environment.StartHostAsync(telemetry.Configure);
        var created = await host.SignInAsync(Server);
        Environment.Clock.Advance(Lifetime - TimeSpan.FromSeconds(30));

        // Another instance holds the lease: the refresh waits until it is gone, then refreshes itself.
        var key = KeyOf(created.Session).Value;
        var table = await Environment.SessionsTableAsync();
        var lease = new TableEntity(key, key) { ["LeaseId"] = "another-instance", ["LeaseExpiresAt"] = Environment.Clock.GetUtcNow() + TimeSpan.FromMinutes(1) };
        await table.UpdateEntityAsync(lease, Azure.ETag.All, TableUpdateMode.Merge);
        var refreshing = host.RefreshAsync(created.Session, minTtl: 60);
        await Task.Delay(TimeSpan.FromMilliseconds(400));
        Assert.False(refreshing.IsCompleted);
        Environment.Clock.Advance(TimeSpan.FromMinutes(2));
        Assert.True((await Expect.TokenAsync(await refreshing)).Refreshed);
        telemetry.Flush(host.Services);

        // Over every stream of that name (other tests' hosts export the same names); ours waited at least 0.4 s.
        var waits = telemetry.Metrics.Snapshot().Where(m => m.Name == "functionsauth.refresh.lease_wait.duration").ToList();
        Assert.NotEmpty(waits);
        Assert.All(waits, m => Assert.Equal(("s", MetricType.Histogram), (m.Unit, m.MetricType)));
        var released = waits.SelectMany(m => m.MetricPoints).Where(p => Tags(p).Contains(("result", "released"))).ToList();
        Assert.Contains(released, p => p.GetHistogramCount() >= 1 && p.GetHistogramSum() >= 0.3);
    }

    [Fact]
    public async Task RefreshSpan_HasProviderAndStorageChildSpans()
    {
        var telemetry = new ExportedTelemetry();
        await using var host = await Environment.StartHostAsync(telemetry.Configure);

        var created = await host.SignInAsync(Server);
        Environment.Clock.Advance(Lifetime - TimeSpan.FromSeconds(30));
        Assert.True((await Expect.TokenAsync(await host.RefreshAsync(created.Session, minTtl: 60))).Refreshed);
        await Expect.StatusAsync(await host.RevokeAsync(created.Session), System.Net.HttpStatusCode.NoContent);
        telemetry.Flush(host.Services);

        var spans = telemetry.Spans.Snapshot();
        var logId = KeyOf(created.Session).LogId;
        var refresh = Assert.Single(spans, s => s.OperationName == "auth.refresh" && Equals(s.GetTagItem(FunctionsAuthTracing.SessionTag), logId));
        Assert.Equal(FunctionsAuthTracing.SourceName, refresh.Source.Name);
        Assert.Equal("refreshed", refresh.GetTagItem(FunctionsAuthTracing.RefreshOutcomeTag));
        Assert.Equal(false, refresh.GetTagItem(FunctionsAuthTracing.RefreshScopedTag));
        Assert.Equal(200, refresh.GetTagItem("http.response.status_code"));

        var children = spans.Where(s => IsDescendantOf(s, refresh, spans)).ToList();
        var provider = Assert.Single(children, s => s.Source.Name == FunctionsAuthTracing.SourceName && s.Kind == ActivityKind.Client);
        Assert.Equal("POST", provider.OperationName);
        Assert.Equal("oauth", provider.GetTagItem("functionsauth.http_client"));
        Assert.Equal(Server.Issuer.Host, provider.GetTagItem("server.address"));
        Assert.Equal(200, provider.GetTagItem("http.response.status_code"));
        Assert.Contains(children, s => s.Source.Name.StartsWith("Azure.Data.Tables.", StringComparison.Ordinal) && s.OperationName.Contains("Get", StringComparison.Ordinal));
        Assert.Contains(children, s => s.Source.Name.StartsWith("Azure.Data.Tables.", StringComparison.Ordinal) && s.OperationName.Contains("Update", StringComparison.Ordinal));

        Assert.Contains(spans, s => s.OperationName == "auth.sessions" && s.TraceId != refresh.TraceId && Equals(s.GetTagItem("http.response.status_code"), 201));
        Assert.Contains(spans, s => s.OperationName == "auth.revoke" && Equals(s.GetTagItem("http.response.status_code"), 204));
    }

    [Fact]
    public async Task ExportedTelemetry_HoldsNoTokenHandleOrSecret()
    {
        var telemetry = new ExportedTelemetry();
        await using var host = await Environment.StartHostAsync(telemetry.Configure);

        var created = await host.SignInAsync(Server);
        var firstRefreshToken = await StoredRefreshTokenAsync(created.Session);
        Environment.Clock.Advance(Lifetime - TimeSpan.FromSeconds(30));
        var refreshed = await Expect.TokenAsync(await host.RefreshAsync(created.Session, minTtl: 60));
        var rotatedRefreshToken = await StoredRefreshTokenAsync(created.Session);
        await Expect.StatusAsync(await host.RevokeAsync(created.Session), System.Net.HttpStatusCode.NoContent);
        telemetry.Flush(host.Services);

        var exported = telemetry.AllExportedText();
        Assert.Contains(KeyOf(created.Session).LogId, exported);
        Assert.Contains("functionsauth.refresh.requests", exported);
        var secrets = new[]
        {
            created.Session, created.AccessToken, created.IdToken!, refreshed.AccessToken, firstRefreshToken, rotatedRefreshToken,
            TestEnvironment.ClientSecret, Environment.EncryptionKey,
            // The full session key is what the table is keyed by; telemetry names a session by its short prefix only.
            KeyOf(created.Session).Value,
        };
        Assert.All(secrets, secret => Assert.DoesNotContain(secret, exported, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Startup_SaysWhichExporterIsOn()
    {
        await using var host = await Environment.StartHostAsync();
        Assert.Contains(host.Logs.Lines, l => l.Contains("Metrics and traces are not exported: neither APPLICATIONINSIGHTS_CONNECTION_STRING nor OTEL_EXPORTER_OTLP_ENDPOINT is set.", StringComparison.Ordinal));

        Assert.Equal("OTLP", Exporters(("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")));
        Assert.Equal("Azure Monitor", Exporters(("APPLICATIONINSIGHTS_CONNECTION_STRING", "InstrumentationKey=00000000-0000-0000-0000-000000000000")));
        Assert.Equal("Azure Monitor and OTLP", Exporters(("APPLICATIONINSIGHTS_CONNECTION_STRING", "InstrumentationKey=00000000-0000-0000-0000-000000000000"), ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")));
        Assert.Equal("nothing", Exporters(("OTEL_EXPORTER_OTLP_ENDPOINT", " ")));
    }

    [Fact]
    public void OtlpEndpointSet_RegistersTracerAndMeterProviders()
    {
        var services = new ServiceCollection();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:4318" }).Build();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging();
        var hostInstrumentation = 0;

        services.AddFunctionsAuthTelemetry(configuration, _ => hostInstrumentation++);

        using var provider = services.BuildServiceProvider();
        Assert.Equal(1, hostInstrumentation);
        Assert.NotNull(provider.GetService<TracerProvider>());
        Assert.NotNull(provider.GetService<MeterProvider>());
    }

    [Fact]
    public async Task FunctionsHost_WithOtlpEndpoint_ExportsOurSpansBelowTheWorkersOwn()
    {
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9";
        var spans = new LockedCollection<Activity>();
        using var host = FunctionsAuth.Functions.FunctionsApp.Build(FunctionsAuth.Tests.Hosting.WorkerHostTests.Args(environment.Settings));

        // The real container of the worker: its tracer provider listens to our source (an in-memory exporter is added
        // the way a test host adds one; the OTLP exporter points at a closed port and is never flushed here).
        var tracer = host.Services.GetRequiredService<TracerProvider>();
        Assert.NotNull(host.Services.GetService<MeterProvider>());
        tracer.AddProcessor(new SimpleActivityExportProcessor(new InMemoryExporter<Activity>(spans)));
        using (FunctionsAuthTracing.StartApiCall("refresh"))
        {
        }

        Assert.Contains(spans.Snapshot(), s => s.OperationName == "auth.refresh" && s.Source.Name == FunctionsAuthTracing.SourceName);
    }

    [Fact]
    public void NothingConfigured_RegistersNoProviders()
    {
        var services = new ServiceCollection();
        var configuration = new ConfigurationBuilder().Build();
        services.AddLogging();
        var hostInstrumentation = 0;

        services.AddFunctionsAuthTelemetry(configuration, _ => hostInstrumentation++);

        using var provider = services.BuildServiceProvider();
        Assert.Equal(0, hostInstrumentation);
        Assert.Null(provider.GetService<TracerProvider>());
        Assert.Null(provider.GetService<MeterProvider>());
    }

    private static string Exporters(params (string Name, string Value)[] settings) =>
        TelemetryExporters.From(new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Name, s.Value))).Build()).ToString();

    /// <remarks>
    /// Over every exported stream of that name: the exporter listens to every meter named FunctionsAuth in the process,
    /// so other tests' hosts (running alongside) export streams of the same name, and the last one need not be ours.
    /// </remarks>
    private static void AssertMetric(IReadOnlyList<MetricSnapshot> metrics, string name, string unit, params (string Key, string Value)[] tags)
    {
        var streams = metrics.Where(m => m.Name == name).ToList();
        Assert.NotEmpty(streams);
        Assert.All(streams, m => Assert.Equal(unit, m.Unit));
        Assert.Contains(streams.SelectMany(m => m.MetricPoints), p => tags.All(Tags(p).Contains));
    }

    private static HashSet<(string, string)> Tags(MetricPoint point)
    {
        var tags = new HashSet<(string, string)>();
        foreach (var tag in point.Tags)
        {
            tags.Add((tag.Key, Convert.ToString(tag.Value, CultureInfo.InvariantCulture) ?? ""));
        }

        return tags;
    }

    private static bool IsDescendantOf(Activity span, Activity ancestor, IReadOnlyList<Activity> spans)
    {
        if (span.TraceId != ancestor.TraceId || span == ancestor)
        {
            return false;
        }

        var byId = spans.Where(s => s.TraceId == ancestor.TraceId).ToDictionary(s => s.SpanId);
        for (var parent = span.ParentSpanId; byId.TryGetValue(parent, out var next); parent = next.ParentSpanId)
        {
            if (next == ancestor)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The in-memory exporters, added through the host's configure callback, with the ASP.NET Core spans the local host
    /// adds when it exports (without a recorded server span as parent, the sampler would drop every span below it).
    /// </summary>
    private sealed class ExportedTelemetry
    {
        public LockedCollection<Activity> Spans { get; } = new();

        public LockedCollection<MetricSnapshot> Metrics { get; } = new();

        public void Configure(WebApplicationBuilder builder) =>
            builder.Services.AddOpenTelemetry()
                .WithTracing(tracing => tracing.AddAspNetCoreInstrumentation().AddInMemoryExporter(Spans))
                .WithMetrics(metrics => metrics.AddInMemoryExporter(Metrics));

        public void Flush(IServiceProvider services)
        {
            Assert.True(services.GetRequiredService<TracerProvider>().ForceFlush());
            Assert.True(services.GetRequiredService<MeterProvider>().ForceFlush());
        }

        /// <summary>Every name, tag, event, status and metric attribute exported, as one text.</summary>
        public string AllExportedText()
        {
            var text = new System.Text.StringBuilder();
            foreach (var span in Spans.Snapshot())
            {
                text.Append(span.Source.Name).Append(' ').Append(span.DisplayName).Append(' ').Append(span.OperationName).Append(' ').Append(span.StatusDescription).Append('\n');
                foreach (var (key, value) in span.TagObjects)
                {
                    text.Append(key).Append('=').Append(Convert.ToString(value, CultureInfo.InvariantCulture)).Append('\n');
                }

                foreach (var activityEvent in span.Events)
                {
                    text.Append(activityEvent.Name).Append('\n');
                    foreach (var (key, value) in activityEvent.Tags)
                    {
                        text.Append(key).Append('=').Append(Convert.ToString(value, CultureInfo.InvariantCulture)).Append('\n');
                    }
                }

                foreach (var (key, value) in span.Baggage)
                {
                    text.Append(key).Append('=').Append(value).Append('\n');
                }
            }

            foreach (var metric in Metrics.Snapshot())
            {
                text.Append(metric.MeterName).Append(' ').Append(metric.Name).Append(' ').Append(metric.Description).Append(' ').Append(metric.Unit).Append('\n');
                foreach (var point in metric.MetricPoints)
                {
                    foreach (var (key, value) in Tags(point))
                    {
                        text.Append(key).Append('=').Append(value).Append('\n');
                    }
                }
            }

            return text.ToString();
        }
    }

    /// <summary>The exporters add from whichever thread ends a span; several hosts run in parallel.</summary>
    private sealed class LockedCollection<T> : Collection<T>
    {
        private readonly Lock gate = new();

        public IReadOnlyList<T> Snapshot()
        {
            lock (gate)
            {
                return [.. Items];
            }
        }

        protected override void InsertItem(int index, T item)
        {
            lock (gate)
            {
                base.InsertItem(Items.Count, item);
            }
        }
    }
}

internal static class AzureSdkActivitySource
{
    /// <summary>
    /// Azure.Core reads its switch once, when a client first starts a scope: in a test process other tests create
    /// clients before any host of these tests is built, so the switch is set before any of them runs.
    /// </summary>
#pragma warning disable CA2255 // A test assembly's module initializer, not a library's.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Enable() => AppContext.SetSwitch("Azure.Experimental.EnableActivitySource", true);
}
