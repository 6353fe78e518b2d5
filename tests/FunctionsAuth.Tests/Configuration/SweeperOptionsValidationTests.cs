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
