using FunctionsAuth.Configuration;

namespace FunctionsAuth.Tests.Configuration;

/// <summary><c>Providers:&lt;name&gt;:RefreshTokenReuseInterval</c>, checked by the source-generated validator at start.</summary>
public sealed class ReuseIntervalValidationTests
{
    [Theory]
    [InlineData("00:00:00")]
    [InlineData("00:00:30")]
    [InlineData("01:00:00")]
    public void Validate_ZeroUpToAnHour_Accepted(string interval)
    {
        var result = new FunctionsAuthOptionsValidator().Validate(null, OptionsWith(TimeSpan.Parse(interval, System.Globalization.CultureInfo.InvariantCulture)));

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Theory]
    [InlineData("-00:00:01")]
    [InlineData("01:00:01")]
    public void Validate_NegativeOrLongerThanAnHour_RefusedNamingTheSetting(string interval)
    {
        var result = new FunctionsAuthOptionsValidator().Validate(null, OptionsWith(TimeSpan.Parse(interval, System.Globalization.CultureInfo.InvariantCulture)));

        Assert.True(result.Failed);
        Assert.Contains("The field FunctionsAuth:Providers:demo:RefreshTokenReuseInterval must be between 00:00:00 and 01:00:00.", result.Failures!);
    }

    private static FunctionsAuthOptions OptionsWith(TimeSpan interval) => new()
    {
        Storage = { ConnectionString = "UseDevelopmentStorage=true" },
        Secrets = { ["token-encryption-key"] = Convert.ToBase64String(new byte[32]) },
        Providers =
        {
            ["demo"] = new ProviderOptions { Issuer = new Uri("https://login.example"), ClientId = "app", RefreshTokenReuseInterval = interval },
        },
    };
}
