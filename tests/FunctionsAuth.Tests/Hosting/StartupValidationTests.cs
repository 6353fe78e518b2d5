using System.Diagnostics;
using System.Net;
using FunctionsAuth.Configuration;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Tests.Hosting;

/// <summary>A bad configuration stops the host at start-up, naming the setting, instead of failing a user's request later.</summary>
public sealed class StartupValidationTests
{
    [Theory]
    [InlineData("FunctionsAuth:RefreshWindow", "00:05:00", "RefreshWindow")]
    [InlineData("SweeperSchedule", "0 0 * * * *", "sweeper interval")]
    [InlineData("SweeperSchedule", "every five minutes", "NCRONTAB")]
    [InlineData("FunctionsAuth:LeaseDuration", "00:00:20", "LeaseDuration")]
    [InlineData("FunctionsAuth:DefaultMinTtl", "00:30:00", "DefaultMinTtl")]
    [InlineData("FunctionsAuth:KeyVaultUri", "http://vault.example/", "https")]
    [InlineData("FunctionsAuth:Providers:bad:ClientId", "x", "Issuer")]
    [InlineData("FunctionsAuth:Providers:plain:TokenEndpoint", "http://idp.example/token", "https")]
    [InlineData("FunctionsAuth:Providers:entra:Kind", "Entra", "TenantId")]
    public async Task Start_InvalidSetting_FailsNamingIt(string setting, string value, string expectedInMessage)
    {
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings[setting] = value;

        // The window and schedule rules hold for a running sweeper only; the host fails to start, so it never runs.
        environment.Settings.Remove(SweeperOptions.DisabledSetting);
        if (setting.StartsWith("FunctionsAuth:Providers:plain", StringComparison.Ordinal) || setting.StartsWith("FunctionsAuth:Providers:entra", StringComparison.Ordinal))
        {
            environment.Settings[string.Join(':', setting.Split(':')[..3]) + ":ClientId"] = "client";
        }

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => environment.StartHostAsync());

        Assert.Contains(expectedInMessage, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_MissingFunctionKey_FailsWithTheSettingName()
    {
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings.Remove("LocalHost:FunctionKey");

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => environment.StartHostAsync());

        Assert.Contains("LocalHost__FunctionKey", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_SweeperEnabledScheduleUnset_SchedulesTheDocumentedDefault()
    {
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings.Remove(SweeperOptions.DisabledSetting);
        environment.Settings.Remove(SweeperOptions.ScheduleSetting);

        await using var host = await environment.StartHostAsync();

        await Secrets.SecretsTestHost.WaitUntilAsync(() => host.Logs.Lines.Any(l => l.Contains("Timer function Sweeper scheduled: 0 */5 * * * * (UTC).", StringComparison.Ordinal)));
        using var health = await host.Client.GetAsync("api/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task Process_ConfigurationRefused_ExitsNonZeroNamingTheSetting()
    {
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "FunctionsAuth.LocalHost.dll"), "--urls", "http://127.0.0.1:0"])
        {
            // No local.settings.json there: only the settings below.
            WorkingDirectory = Directory.CreateTempSubdirectory("functionsauth-process-").FullName,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["FunctionsAuth__Storage__ConnectionString"] = await Azurite.GetConnectionStringAsync();
        start.Environment["FunctionsAuth__Secrets__token-encryption-key"] = Convert.ToBase64String(new byte[32]);
        start.Environment["LocalHost__FunctionKey"] = TestEnvironment.FunctionKey;
        start.Environment["FunctionsAuth__Sweeper__SafetyMargin"] = "-00:00:11";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("The host started with a configuration it must refuse.");
        }

        Assert.NotEqual(0, process.ExitCode);
        Assert.Contains("FunctionsAuth:Sweeper:SafetyMargin", await output + await error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_DefaultSettings_StartsAndAnswersHealthy()
    {
        var environment = await TestEnvironment.CreateAsync();

        await using var host = await environment.StartHostAsync();

        using var health = await host.Client.GetAsync("api/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }
}
