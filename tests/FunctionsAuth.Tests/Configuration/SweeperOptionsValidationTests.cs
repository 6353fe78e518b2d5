using FunctionsAuth.Configuration;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Tests.Configuration;

/// <summary>The start-up rule that no token can expire between two sweeper runs (Data Protection's key ring rule).</summary>
public sealed class SweeperOptionsValidationTests
{
    [Fact]
    public void Validate_Defaults_RefreshWindowCoversTwoRuns()
    {
        var result = new FunctionsAuthOptionsValidator().Validate(null, ValidOptions());

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Theory]
    [InlineData("0 */10 * * * *", "00:10:00", "FunctionsAuth:RefreshWindow (00:10:00) must exceed the sweeper interval (00:10:00) + LeaseDuration (00:01:00) + Sweeper:SafetyMargin (00:01:00) = 00:12:00; otherwise a token can expire between two sweeper runs.")]
    [InlineData("0 0,5,30 * * * *", "00:30:00", "FunctionsAuth:RefreshWindow (00:30:00) must exceed the sweeper interval (00:30:00) + LeaseDuration (00:01:00) + Sweeper:SafetyMargin (00:01:00) = 00:32:00; otherwise a token can expire between two sweeper runs.")]
    public void Validate_WindowNotWiderThanLongestGapPlusLeaseAndMargin_SaysWhichRuleAndNumbers(string schedule, string window, string expected)
    {
        var options = ValidOptions();
        options.Sweeper.Schedule = schedule;
        options.RefreshWindow = TimeSpan.Parse(window, System.Globalization.CultureInfo.InvariantCulture);

        var result = new FunctionsAuthOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains(expected, result.Failures!);
    }

    [Fact]
    public async Task Start_ScheduleSettingTooSparseForTheWindow_HostDoesNotStartAndSaysWhy()
    {
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings[SweeperOptions.ScheduleSetting] = "0 */10 * * * *";
        environment.Settings.Remove(SweeperOptions.DisabledSetting);

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => environment.StartHostAsync());

        Assert.Contains("must exceed the sweeper interval (00:10:00)", error.Message);
    }

    [Fact]
    public void Validate_SweeperDisabled_WindowRuleDoesNotApply()
    {
        var options = ValidOptions();
        options.Sweeper.Schedule = "0 0 * * * *";
        options.Sweeper.TimerDisabled = true;

        var result = new FunctionsAuthOptionsValidator().Validate(null, options);

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Fact]
    public void Validate_SweeperDisabled_NegativeSafetyMarginStillRefused()
    {
        var options = ValidOptions();
        options.Sweeper.TimerDisabled = true;
        options.Sweeper.SafetyMargin = TimeSpan.FromSeconds(-11);

        var result = new FunctionsAuthOptionsValidator().Validate(null, options);

        Assert.Contains("FunctionsAuth:Sweeper:SafetyMargin (-00:00:11) must not be negative.", result.Failures ?? []);
    }

    private static FunctionsAuthOptions ValidOptions() => new()
    {
        Storage = { ConnectionString = "UseDevelopmentStorage=true" },
        Secrets = { ["token-encryption-key"] = Convert.ToBase64String(new byte[32]) },
    };
}

/// <summary>The fan-out's own start-up rules.</summary>
public sealed class SweepFanOutOptionsValidationTests
{
    [Fact]
    public void Validate_MoreInstancesThanRequestsPerSecond_RefusedBecauseTheSharesWouldNotAddUp()
    {
        var options = ValidOptions();
        options.Sweeper.MaxInstances = 51;

        var result = new FunctionsAuthOptionsValidator().Validate(null, options);

        Assert.Contains("FunctionsAuth:Sweeper:MaxInstances (51) must not exceed Sweeper:ProviderRequestsPerSecond (50): each queue worker instance gets a whole share of the provider's rate.", result.Failures ?? []);
    }

    [Theory]
    [InlineData("ab")]
    [InlineData("Sweep")]
    [InlineData("sweep--items")]
    [InlineData("-sweep")]
    [InlineData("a-queue-name-that-is-long-enough-to-leave-no-room-for-poison")]
    public void Validate_QueueNameStorageWouldRefuse_NamesTheSetting(string name)
    {
        var options = ValidOptions();
        options.Sweeper.QueueName = name;

        var result = new FunctionsAuthOptionsValidator().Validate(null, options);

        Assert.Contains(result.Failures ?? [], f => f.StartsWith($"{SweeperOptions.QueueNameSetting} '{name}' must be 3 to 56", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_QueueFanOutWithoutAQueueConnection_Refused()
    {
        var options = ValidOptions();
        options.Sweeper.FanOut = SweepFanOut.Queue;

        var result = new FunctionsAuthOptionsValidator().Validate(null, options);

        Assert.Contains(result.Failures ?? [], f => f.StartsWith("FunctionsAuth:Sweeper:FanOut is Queue but no queue connection is configured", StringComparison.Ordinal));
        options.Sweeper.QueueConfigured = true;
        Assert.True(new FunctionsAuthOptionsValidator().Validate(null, options).Succeeded);
    }

    [Fact]
    public async Task Start_AutoWithoutAQueueConnection_StartsAndSweepsInProcess()
    {
        var environment = await TestEnvironment.CreateAsync();
        environment.Settings.Remove("AzureWebJobsStorage");
        await using var host = await environment.StartHostAsync();

        var plan = await Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<FunctionsAuth.Sweeping.Sweeper>(host.Services).PlanAsync(CancellationToken.None);

        Assert.NotNull(plan.InProcess);
        Assert.Equal(0, plan.Items);
    }

    private static FunctionsAuthOptions ValidOptions() => new()
    {
        Storage = { ConnectionString = "UseDevelopmentStorage=true" },
        Secrets = { ["token-encryption-key"] = Convert.ToBase64String(new byte[32]) },
    };
}
