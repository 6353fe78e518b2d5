using FunctionsAuth.Configuration;
using FunctionsAuth.Tests.OAuth;

namespace FunctionsAuth.Tests.Configuration;

/// <summary>Start-up rules for a provider's client credential: one credential, the one its method uses, and a readable PEM.</summary>
public sealed class ClientAuthenticationOptionsTests
{
    private const string Prefix = "FunctionsAuth:Providers:idp";

    [Fact]
    public void PrivateKeyJwt_WithAReadablePem_IsValid()
    {
        var options = WithProvider(new ProviderOptions
        {
            Issuer = new Uri("https://idp.example/"),
            ClientId = "client",
            ClientAuthentication = ClientAuthenticationMethod.PrivateKeyJwt,
            ClientCertificateName = "client-certificate",
            ClientAssertionFormat = ClientAssertionFormat.Rfc7523bis,
        });
        options.Secrets["client-certificate"] = ClientAuthenticationTestKeys.Pem(ClientAuthenticationTestKeys.Registered);

        var result = new FunctionsAuthOptionsValidator().Validate(null, options);

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Fact]
    public void PrivateKeyJwt_PemThatDoesNotParse_FailsNamingTheSettingNotTheValue()
    {
        var options = WithProvider(PrivateKeyJwt());
        options.Secrets["client-certificate"] = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----";

        var failures = Failures(options);

        var failure = Assert.Single(failures);
        Assert.StartsWith("FunctionsAuth:Secrets:client-certificate: ", failure);
        Assert.DoesNotContain("bm90IGEga2V5", failure);
    }

    [Theory]
    [InlineData(null, null, null, "ClientCertificateName is required")]
    [InlineData("client-certificate", "client-secret", null, "not both")]
    [InlineData("client-certificate", null, "Rfc7523bis", "set Issuer")]
    public void PrivateKeyJwt_Misconfigured_FailsSayingWhat(string? certificate, string? secret, string? format, string expected)
    {
        var provider = PrivateKeyJwt();
        provider.ClientCertificateName = certificate;
        provider.ClientSecretName = secret;
        provider.Issuer = null;
        provider.TokenEndpoint = new Uri("https://idp.example/token");
        provider.ClientAssertionFormat = format is null ? ClientAssertionFormat.Rfc7523 : Enum.Parse<ClientAssertionFormat>(format);
        var options = WithProvider(provider);
        options.Secrets["client-certificate"] = ClientAuthenticationTestKeys.Pem(ClientAuthenticationTestKeys.Registered);

        Assert.Contains(Failures(options), f => f.StartsWith(Prefix, StringComparison.Ordinal) && f.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void PrivateKeyJwt_WithoutKeyVault_AndNoPem_FailsNamingTheSetting()
    {
        var failures = Failures(WithProvider(PrivateKeyJwt()));

        Assert.Contains(failures, f => f.StartsWith("FunctionsAuth:Secrets:client-certificate is not set", StringComparison.Ordinal));
    }

    [Fact]
    public void PrivateKeyJwt_WithKeyVault_DoesNotLookForAPem()
    {
        var options = WithProvider(PrivateKeyJwt());
        options.KeyVaultUri = new Uri("https://vault.example/");

        Assert.Empty(Failures(options));
    }

    [Theory]
    [InlineData(ProviderKind.Oidc, null, null, "needs Kind=Entra")]
    [InlineData(ProviderKind.Entra, "client-secret", null, "uses no secret or certificate")]
    [InlineData(ProviderKind.Entra, null, "client-certificate", "uses no secret or certificate")]
    public void ManagedIdentity_Misconfigured_FailsSayingWhat(ProviderKind kind, string? secret, string? certificate, string expected)
    {
        var options = WithProvider(new ProviderOptions
        {
            Kind = kind,
            TenantId = "contoso.onmicrosoft.com",
            Issuer = kind == ProviderKind.Oidc ? new Uri("https://idp.example/") : null,
            Scopes = "api://app/.default offline_access",
            ClientId = "client",
            ClientAuthentication = ClientAuthenticationMethod.ManagedIdentity,
            ClientSecretName = secret,
            ClientCertificateName = certificate,
        });

        Assert.Contains(Failures(options), f => f.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void ManagedIdentity_ForEntraWithNothingElse_IsValid()
    {
        var options = WithProvider(new ProviderOptions
        {
            Kind = ProviderKind.Entra,
            TenantId = "contoso.onmicrosoft.com",
            Scopes = "api://app/.default offline_access",
            ClientId = "client",
            ClientAuthentication = ClientAuthenticationMethod.ManagedIdentity,
        });

        Assert.Empty(Failures(options));
    }

    [Fact]
    public void Certificate_WithASecretMethod_FailsSayingWhichToUse()
    {
        var provider = PrivateKeyJwt();
        provider.ClientAuthentication = ClientAuthenticationMethod.ClientSecretPost;

        Assert.Contains(Failures(WithProvider(provider)), f => f.Contains("use PrivateKeyJwt", StringComparison.Ordinal));
    }

    [Fact]
    public void ProviderActivityWindow_NotPositive_FailsNamingIt()
    {
        var options = WithProvider(new ProviderOptions { Issuer = new Uri("https://idp.example/"), ClientId = "client", ActivityWindow = TimeSpan.Zero });

        Assert.Contains(Failures(options), f => f.StartsWith($"{Prefix}:ActivityWindow (00:00:00) must be positive", StringComparison.Ordinal));
    }

    private static ProviderOptions PrivateKeyJwt() => new()
    {
        Issuer = new Uri("https://idp.example/"),
        ClientId = "client",
        ClientAuthentication = ClientAuthenticationMethod.PrivateKeyJwt,
        ClientCertificateName = "client-certificate",
    };

    private static FunctionsAuthOptions WithProvider(ProviderOptions provider)
    {
        var options = new FunctionsAuthOptions
        {
            Storage = { ConnectionString = "UseDevelopmentStorage=true" },
            Secrets = { ["token-encryption-key"] = Convert.ToBase64String(new byte[32]) },
        };
        options.Providers["idp"] = provider;
        return options;
    }

    private static IReadOnlyList<string> Failures(FunctionsAuthOptions options) =>
        new FunctionsAuthOptionsValidator().Validate(null, options).Failures?.ToList() ?? [];
}
