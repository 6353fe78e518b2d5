using FunctionsAuth.Functions;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Tests.Hosting;

/// <summary>The real isolated-worker host as Program.cs builds it (it cannot start without the Functions host here).</summary>
public sealed class WorkerHostTests
{
    [Fact]
    public async Task Build_ResolvesEveryFunctionClass()
    {
        var environment = await TestEnvironment.CreateAsync();
        using var host = FunctionsApp.Build(Args(environment.Settings));

        Assert.NotNull(ActivatorUtilities.CreateInstance<AuthFunctions>(host.Services));
        Assert.NotNull(ActivatorUtilities.CreateInstance<SweeperFunction>(host.Services));
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

    private static string[] Args(Dictionary<string, string?> settings) =>
        settings.Where(s => s.Value is not null && !s.Key.StartsWith("AzureWebJobs.", StringComparison.Ordinal)).Select(s => $"--{s.Key}={s.Value}").ToArray();
}
