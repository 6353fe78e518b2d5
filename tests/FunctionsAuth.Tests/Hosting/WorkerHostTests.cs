using System.Text;
using System.Text.Json;
using FunctionsAuth.Configuration;
using FunctionsAuth.Functions;
using FunctionsAuth.Storage;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Abstractions;
using Microsoft.AspNetCore.Routing;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Core.FunctionMetadata;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Tests.Hosting;

/// <summary>The real isolated-worker host as Program.cs builds it (it cannot start without the Functions host here).</summary>
public sealed class WorkerHostTests
{
    [Fact]
    public async Task Build_FunctionClassesAnswerThroughTheRealContainer()
    {
        var environment = await TestEnvironment.CreateAsync();
        using var host = FunctionsApp.Build(Args(environment.Settings));
        await host.Services.GetRequiredService<SessionStore>().EnsureTablesAsync(CancellationToken.None);
        var functions = ActivatorUtilities.CreateInstance<AuthFunctions>(host.Services);

        Assert.Equal(StatusCodes.Status200OK, await StatusOfAsync(await functions.Health(new DefaultHttpContext().Request, CancellationToken.None)));
        Assert.Equal(StatusCodes.Status400BadRequest, await StatusOfAsync(await functions.CreateSession(JsonRequest("{}"), CancellationToken.None)));

        // An empty table: the run finds nothing due and must complete without throwing.
        await ActivatorUtilities.CreateInstance<SweeperFunction>(host.Services).Run(new TimerInfo(), CancellationToken.None);
    }

    [Fact]
    public async Task Metadata_ScheduleSettingUnset_HandsTheFunctionsHostTheDocumentedDefault()
    {
        var environment = await TestEnvironment.CreateAsync();
        using var host = FunctionsApp.Build(Args(environment.Settings));

        Assert.Equal(SweeperOptions.DefaultSchedule, await SweeperScheduleAsync(host));
        Assert.Equal(SweeperOptions.DefaultSchedule, host.Services.GetRequiredService<IOptions<FunctionsAuthOptions>>().Value.Sweeper.Schedule);
    }

    [Fact]
    public async Task Metadata_ScheduleSettingSet_LeavesTheSettingForTheFunctionsHostToResolve()
    {
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings[SweeperOptions.ScheduleSetting] = "30 */5 * * * *";
        using var host = FunctionsApp.Build(Args(environment.Settings));

        Assert.Equal($"%{SweeperOptions.ScheduleSetting}%", await SweeperScheduleAsync(host));
        Assert.Equal("30 */5 * * * *", host.Services.GetRequiredService<IOptions<FunctionsAuthOptions>>().Value.Sweeper.Schedule);
    }

    [Fact]
    public async Task Start_InvalidOptions_FailsValidationBeforeTheWorkerConnects()
    {
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings["FunctionsAuth:RefreshWindow"] = "00:02:00";

        // Normally passed by the Functions host; nothing listens there, validation must stop the start first.
        environment.Settings["Functions:Worker:HostEndpoint"] = "http://127.0.0.1:9";
        using var host = FunctionsApp.Build(Args(environment.Settings));

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("RefreshWindow", error.Message, StringComparison.Ordinal);
    }

    /// <summary>What the worker sends the Functions host for the sweeper's timer (functions.metadata after the app's transformers).</summary>
    private static async Task<string?> SweeperScheduleAsync(IHost host)
    {
        var metadata = await host.Services.GetRequiredService<IFunctionMetadataManager>().GetFunctionMetadataAsync(AppContext.BaseDirectory);
        var sweeper = Assert.Single(metadata, f => f.Name == "Sweeper");
        using var binding = JsonDocument.Parse(Assert.Single(sweeper.RawBindings!, b => b.Contains("timerTrigger", StringComparison.Ordinal)));
        return binding.RootElement.GetProperty("schedule").GetString();
    }

    private static async Task<int> StatusOfAsync(IActionResult result)
    {
        var context = new DefaultHttpContext();
        await result.ExecuteResultAsync(new ActionContext(context, new RouteData(), new ActionDescriptor()));
        return context.Response.StatusCode;
    }

    private static HttpRequest JsonRequest(string json)
    {
        var request = new DefaultHttpContext().Request;
        request.ContentType = "application/json";
        request.Body = new MemoryStream(Encoding.UTF8.GetBytes(json));
        return request;
    }

    internal static string[] Args(Dictionary<string, string?> settings) =>
        settings.Where(s => s.Value is not null && !s.Key.StartsWith("AzureWebJobs.", StringComparison.Ordinal)).Select(s => $"--{s.Key}={s.Value}").ToArray();
}
