using System.Net;
using FunctionsAuth.Configuration;
using FunctionsAuth.Functions;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Tests.Hosting;

/// <summary>
/// Configuration that cannot work stops the real hosts at start, every problem listed with its setting's name, instead
/// of starting healthy and failing the first sweep or request.
/// </summary>
public sealed class BrokenConfigurationTests
{
    [Theory]
    [InlineData("FunctionsAuth:Sweeper:SafetyMargin", "-00:00:11", "FunctionsAuth:Sweeper:SafetyMargin (-00:00:11) must not be negative.")]
    [InlineData("FunctionsAuth:Sweeper:Parallelism", "0", "The field FunctionsAuth:Sweeper:Parallelism must be between 1 and 256.")]
    [InlineData("FunctionsAuth:Sweeper:Parallelism", "257", "The field FunctionsAuth:Sweeper:Parallelism must be between 1 and 256.")]
    [InlineData("FunctionsAuth:Sweeper:ProviderRequestsPerSecond", "0", "The field FunctionsAuth:Sweeper:ProviderRequestsPerSecond must be between 1 and 10000.")]
    [InlineData("FunctionsAuth:Storage:SessionsTable", "1sessions", "FunctionsAuth:Storage:SessionsTable must be 3 to 63 letters or digits")]
    [InlineData("FunctionsAuth:Storage:DueIndexTable", "due-index", "FunctionsAuth:Storage:DueIndexTable must be 3 to 63 letters or digits")]
    [InlineData("FunctionsAuth:EncryptionKeySecretName", "", "FunctionsAuth:EncryptionKeySecretName is required.")]
    [InlineData("FunctionsAuth:ActivityResolution", "-00:01:00", "FunctionsAuth:ActivityResolution (-00:01:00) must be positive")]
    [InlineData("FunctionsAuth:SecretCacheDuration", "-00:05:00", "FunctionsAuth:SecretCacheDuration (-00:05:00) must be positive")]
    public async Task Startup_InvalidSetting_RefusesToStartNamingTheSetting(string setting, string value, string expected)
    {
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings[setting] = value;

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => environment.StartHostAsync());

        Assert.Contains(error.Failures, f => f.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Startup_NegativeSafetyMarginWithShortWindow_RefusesToStartNamingTheSetting()
    {
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings.Remove(SweeperOptions.DisabledSetting);
        environment.Settings[SweeperOptions.ScheduleSetting] = "* * * * * *";
        environment.Settings["FunctionsAuth:Sweeper:TimeBudget"] = "00:00:00.500";
        environment.Settings["FunctionsAuth:ProviderTimeout"] = "00:00:00.100";
        environment.Settings["FunctionsAuth:LeaseDuration"] = "00:00:10";
        environment.Settings["FunctionsAuth:RefreshWindow"] = "00:00:03";
        environment.Settings["FunctionsAuth:DefaultMinTtl"] = "00:00:01";
        environment.Settings["FunctionsAuth:Sweeper:SafetyMargin"] = "-00:00:11";

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => environment.StartHostAsync());

        Assert.Contains("FunctionsAuth:Sweeper:SafetyMargin (-00:00:11) must not be negative.", error.Failures);
    }

    [Fact]
    public async Task Startup_ProviderWithoutClientId_RefusesToStartNamingTheSetting()
    {
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings["FunctionsAuth:Providers:idp:Issuer"] = "https://idp.example/";

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => environment.StartHostAsync());

        Assert.Contains("FunctionsAuth:Providers:idp:ClientId is required.", error.Failures);
    }

    [Fact]
    public async Task Startup_SeveralProblems_ListsEachNamingItsSetting()
    {
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings["FunctionsAuth:Sweeper:Parallelism"] = "0";
        environment.Settings["FunctionsAuth:Storage:SessionsTable"] = "x";
        environment.Settings["FunctionsAuth:ActivityResolution"] = "-00:00:01";
        environment.Settings["FunctionsAuth:Providers:idp:Issuer"] = "https://idp.example/";

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => environment.StartHostAsync());

        Assert.Equal(4, error.Failures.Count());
        Assert.Contains(error.Failures, f => f.Contains("FunctionsAuth:ActivityResolution ", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("FunctionsAuth:Providers:idp:ClientId ", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("FunctionsAuth:Storage:SessionsTable ", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("FunctionsAuth:Sweeper:Parallelism ", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("AAAA")]
    [InlineData("not base64 at all!")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")]
    public async Task Startup_ConfiguredEncryptionKeyOfWrongShape_RefusesToStartNamingTheSettingNotTheValue(string key)
    {
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings["FunctionsAuth:Secrets:token-encryption-key"] = environment.EncryptionKey + "," + key;

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => environment.StartHostAsync());

        Assert.Contains("FunctionsAuth:Secrets:token-encryption-key: key 2 of 2 is not base64 of exactly 32 bytes (AES-256; e.g. 'openssl rand -base64 32').", error.Failures);
        Assert.DoesNotContain(key, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(environment.EncryptionKey, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Startup_NoEncryptionKeyAndNoKeyVault_RefusesToStartNamingTheSetting()
    {
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings.Remove("FunctionsAuth:Secrets:token-encryption-key");

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => environment.StartHostAsync());

        Assert.Contains(error.Failures, f => f.StartsWith("FunctionsAuth:Secrets:token-encryption-key is not set", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Startup_EntraWithoutScopes_RefusesToStartNamingTheSetting()
    {
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings["FunctionsAuth:Providers:entra:Kind"] = "Entra";
        environment.Settings["FunctionsAuth:Providers:entra:TenantId"] = "common";
        environment.Settings["FunctionsAuth:Providers:entra:ClientId"] = "client";

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => environment.StartHostAsync());

        Assert.Contains(error.Failures, f => f.StartsWith("FunctionsAuth:Providers:entra:Scopes is required for Entra ID", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("api://7d9a0c34/.default", true)]
    [InlineData("api://7d9a0c34/.default offline_access", false)]
    public async Task Startup_EntraScopesWithoutOfflineAccess_StartsAndWarns(string scopes, bool warned)
    {
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings["FunctionsAuth:Providers:entra:Kind"] = "Entra";
        environment.Settings["FunctionsAuth:Providers:entra:TenantId"] = "contoso.onmicrosoft.com";
        environment.Settings["FunctionsAuth:Providers:entra:ClientId"] = "client";
        environment.Settings["FunctionsAuth:Providers:entra:Scopes"] = scopes;

        await using var host = await environment.StartHostAsync();

        Assert.Equal(warned, host.Logs.Lines.Any(l => l.StartsWith("Warning ", StringComparison.Ordinal) && l.Contains("Provider entra (Entra ID) has no offline_access in Scopes", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData("https://login.microsoftonline.com/common/v2.0", "common")]
    [InlineData("https://login.microsoftonline.com/organizations/v2.0/", "organizations")]
    [InlineData("https://login.microsoftonline.com/consumers/v2.0", "consumers")]
    public async Task Startup_EntraMultiTenantIssuerAsGenericOidc_RefusesToStartPointingToTheEntraPreset(string issuer, string tenant)
    {
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings["FunctionsAuth:Providers:ms:Kind"] = "Oidc";
        environment.Settings["FunctionsAuth:Providers:ms:Issuer"] = issuer;
        environment.Settings["FunctionsAuth:Providers:ms:ClientId"] = "client";

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => environment.StartHostAsync());

        var failure = Assert.Single(error.Failures, f => f.StartsWith("FunctionsAuth:Providers:ms:Issuer ", StringComparison.Ordinal));
        Assert.Contains($"use Kind=Entra with TenantId={tenant}", failure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Startup_SingleTenantEntraIssuerAsGenericOidc_Starts()
    {
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings["FunctionsAuth:Providers:ms:Kind"] = "Oidc";
        environment.Settings["FunctionsAuth:Providers:ms:Issuer"] = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0";
        environment.Settings["FunctionsAuth:Providers:ms:ClientId"] = "client";

        await using var host = await environment.StartHostAsync();

        using var health = await host.Client.GetAsync("api/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task WorkerHost_NestedOptionAttribute_FailsValidationNamingTheSetting()
    {
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings["FunctionsAuth:Sweeper:Parallelism"] = "0";
        environment.Settings["Functions:Worker:HostEndpoint"] = "http://127.0.0.1:9";
        using var host = FunctionsApp.Build(WorkerHostTests.Args(environment.Settings));

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Equal(["The field FunctionsAuth:Sweeper:Parallelism must be between 1 and 256."], error.Failures);
    }
}
