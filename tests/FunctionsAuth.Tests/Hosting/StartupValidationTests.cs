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
    public async Task Start_DefaultSettings_Starts()
    {
        var environment = await TestEnvironment.CreateAsync();

        await using var host = await environment.StartHostAsync();

        Assert.NotNull(host.Address);
    }
}
