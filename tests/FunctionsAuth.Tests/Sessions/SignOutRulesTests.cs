using FunctionsAuth.Configuration;
using FunctionsAuth.Sessions;

namespace FunctionsAuth.Tests.Sessions;

/// <summary>The sign-out rule as a table: the provider's setting (resolved per known issuer) and what the app asked for.</summary>
public sealed class SignOutRulesTests
{
    [Theory]
    [InlineData(ProviderKind.Google, null, SignOutRevocation.Auto, SignOutRevocation.Never)]
    [InlineData(ProviderKind.Oidc, "https://accounts.google.com", SignOutRevocation.Auto, SignOutRevocation.Never)]
    [InlineData(ProviderKind.Oidc, "https://ACCOUNTS.GOOGLE.COM/", SignOutRevocation.Auto, SignOutRevocation.Never)]
    [InlineData(ProviderKind.Oidc, "https://login.example.com/", SignOutRevocation.Auto, SignOutRevocation.Always)]
    [InlineData(ProviderKind.Oidc, "https://accounts.google.com.evil.example/", SignOutRevocation.Auto, SignOutRevocation.Always)]
    [InlineData(ProviderKind.Entra, null, SignOutRevocation.Auto, SignOutRevocation.Always)]
    [InlineData(ProviderKind.Google, null, SignOutRevocation.OnRequest, SignOutRevocation.OnRequest)]
    [InlineData(ProviderKind.Google, null, SignOutRevocation.Always, SignOutRevocation.Always)]
    [InlineData(ProviderKind.Oidc, "https://login.example.com/", SignOutRevocation.Never, SignOutRevocation.Never)]
    public void Resolve_KnownIssuersGetTheirDefault_AnExplicitSettingWins(ProviderKind kind, string? issuer, SignOutRevocation configured, SignOutRevocation expected)
    {
        var provider = new ProviderOptions { Kind = kind, Issuer = issuer is null ? null : new Uri(issuer), SignOutRevocation = configured };

        Assert.Equal(expected, SignOutRules.Resolve(provider));
    }

    [Fact]
    public void Resolve_ProviderNoLongerConfigured_RevokesAsBefore()
    {
        Assert.Equal(SignOutRevocation.Always, SignOutRules.Resolve(null));
    }

    [Theory]
    [InlineData(SignOutRevocation.Always, null, "DeleteAndRevoke")]
    [InlineData(SignOutRevocation.Always, true, "DeleteAndRevoke")]
    [InlineData(SignOutRevocation.Always, false, "Delete")]
    [InlineData(SignOutRevocation.OnRequest, null, "Delete")]
    [InlineData(SignOutRevocation.OnRequest, false, "Delete")]
    [InlineData(SignOutRevocation.OnRequest, true, "DeleteAndRevoke")]
    [InlineData(SignOutRevocation.Never, null, "Delete")]
    [InlineData(SignOutRevocation.Never, false, "Delete")]
    [InlineData(SignOutRevocation.Never, true, "Refuse")]
    public void Decide_SettingAndRequest(SignOutRevocation policy, bool? revokeGrant, string expected)
    {
        Assert.Equal(Enum.Parse<SignOutAction>(expected), SignOutRules.Decide(policy, revokeGrant));
    }
}
