using System.Security.Cryptography;
using FunctionsAuth.Secrets;
using FunctionsAuth.Tests.OAuth;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace FunctionsAuth.Tests.Secrets;

/// <summary>The PEM forms local development can configure, each signing an assertion that verifies with its public key.</summary>
public sealed class SigningKeysTests
{
    [Fact]
    public void FromPem_CertificateAndKey_SignsRs256_WithTheThumbprintAsKeyId()
    {
        var credentials = SigningKeys.FromPem("c", ClientAuthenticationTestKeys.Pem(ClientAuthenticationTestKeys.Registered));

        Assert.Equal(SecurityAlgorithms.RsaSha256, credentials.Algorithm);
        Assert.Equal(ClientAuthenticationTestKeys.Registered.Thumbprint, credentials.Key.KeyId);
        AssertVerifies(credentials, new X509SecurityKey(ClientAuthenticationTestKeys.Registered));
    }

    [Fact]
    public void FromPem_BareRsaKey_SignsRs256_WithTheJwkThumbprintAsKeyId()
    {
        using var rsa = RSA.Create(2048);

        var credentials = SigningKeys.FromPem("c", rsa.ExportPkcs8PrivateKeyPem());

        var publicKey = new RsaSecurityKey(rsa.ExportParameters(false));
        Assert.Equal(SecurityAlgorithms.RsaSha256, credentials.Algorithm);
        Assert.Equal(Base64UrlEncoder.Encode(publicKey.ComputeJwkThumbprint()), credentials.Key.KeyId);
        AssertVerifies(credentials, publicKey);
    }

    [Theory]
    [InlineData("nistP256", SecurityAlgorithms.EcdsaSha256)]
    [InlineData("nistP384", SecurityAlgorithms.EcdsaSha384)]
    public void FromPem_BareEcKey_SignsWithTheCurvesAlgorithm(string curve, string algorithm)
    {
        using var ec = ECDsa.Create(ECCurve.CreateFromFriendlyName(curve));

        var pkcs8 = SigningKeys.FromPem("c", ec.ExportPkcs8PrivateKeyPem());
        var sec1 = SigningKeys.FromPem("c", ec.ExportECPrivateKeyPem());

        Assert.Equal(algorithm, pkcs8.Algorithm);
        Assert.Equal(algorithm, sec1.Algorithm);
        AssertVerifies(pkcs8, new ECDsaSecurityKey(ECDsa.Create(ec.ExportParameters(false))));
    }

    [Theory]
    [InlineData("")]
    [InlineData("not a pem")]
    [InlineData("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")]
    public void FromPem_Unreadable_IsAnUnusableCertificate_WithoutTheValue(string pem)
    {
        var thrown = Assert.Throws<InvalidClientCertificateException>(() => SigningKeys.FromPem("client-certificate", pem));

        Assert.Equal("client-certificate", thrown.CertificateName);
        Assert.DoesNotContain("AAAA", thrown.Message);
    }

    private static void AssertVerifies(SigningCredentials credentials, SecurityKey publicKey)
    {
        var token = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor { SigningCredentials = credentials, Claims = new Dictionary<string, object> { ["sub"] = "x" } });
        var result = new JsonWebTokenHandler().ValidateTokenAsync(token, new TokenValidationParameters
        {
            IssuerSigningKey = publicKey,
            ValidateIssuer = false,
            ValidateAudience = false,
            ValidateLifetime = false,
        }).GetAwaiter().GetResult();
        Assert.True(result.IsValid, result.Exception?.Message);
    }
}
