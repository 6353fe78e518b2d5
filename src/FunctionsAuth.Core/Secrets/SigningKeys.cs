using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.IdentityModel.Tokens;

namespace FunctionsAuth.Secrets;

/// <summary>Turns a certificate (or a bare private key) into the signing credentials of a client assertion.</summary>
internal static class SigningKeys
{
    private const string CertificatePemLabel = "-----BEGIN CERTIFICATE-----";

    /// <summary>
    /// RSA certificates sign RS256 with the <c>x5t</c> header Entra ID looks keys up by; EC ones ES256/384/512 by curve.
    /// The key id is the certificate's SHA-1 thumbprint, as Entra ID and Key Vault show it.
    /// </summary>
    public static SigningCredentials FromCertificate(string name, X509Certificate2 certificate)
    {
        if (!certificate.HasPrivateKey)
        {
            throw new InvalidClientCertificateException(name, "the certificate carries no private key (in Key Vault, the policy must allow export, and the identity needs 'get' on secrets)");
        }

        if (certificate.GetRSAPrivateKey() is not null)
        {
            return new X509SigningCredentials(certificate, SecurityAlgorithms.RsaSha256);
        }

        if (certificate.GetECDsaPrivateKey() is { } ec)
        {
            return new SigningCredentials(new ECDsaSecurityKey(ec) { KeyId = certificate.Thumbprint }, EcAlgorithm(name, ec.KeySize));
        }

        throw new InvalidClientCertificateException(name, "its key is neither RSA nor EC");
    }

    /// <summary>
    /// Local development: a PEM holding a certificate and its private key, or a private key alone (RSA or EC). A bare key's
    /// id is its RFC 7638 JWK thumbprint, the id a provider's JWKS would give it.
    /// </summary>
    public static SigningCredentials FromPem(string name, string pem)
    {
        try
        {
            if (pem.Contains(CertificatePemLabel, StringComparison.Ordinal))
            {
                return FromCertificate(name, X509Certificate2.CreateFromPem(pem, pem));
            }

            SecurityKey key;
            string algorithm;
            if (pem.Contains("EC PRIVATE KEY", StringComparison.Ordinal) || IsEcPkcs8(pem))
            {
                var ec = ECDsa.Create();
                ec.ImportFromPem(pem);
                key = new ECDsaSecurityKey(ec);
                algorithm = EcAlgorithm(name, ec.KeySize);
            }
            else
            {
                var rsa = RSA.Create();
                rsa.ImportFromPem(pem);
                key = new RsaSecurityKey(rsa);
                algorithm = SecurityAlgorithms.RsaSha256;
            }

            key.KeyId = Base64UrlEncoder.Encode(key.ComputeJwkThumbprint());
            return new SigningCredentials(key, algorithm);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            // The exception's own message can quote the input: keep it out of ours.
            throw new InvalidClientCertificateException(name, "the value is not a PEM certificate with its private key, nor a PEM RSA or EC private key", ex);
        }
    }

    private static bool IsEcPkcs8(string pem)
    {
        if (!pem.Contains("-----BEGIN PRIVATE KEY-----", StringComparison.Ordinal))
        {
            return false;
        }

        using var probe = ECDsa.Create();
        try
        {
            probe.ImportFromPem(pem);
            return true;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    private static string EcAlgorithm(string name, int keySize) => keySize switch
    {
        256 => SecurityAlgorithms.EcdsaSha256,
        384 => SecurityAlgorithms.EcdsaSha384,
        521 => SecurityAlgorithms.EcdsaSha512,
        _ => throw new InvalidClientCertificateException(name, "its EC curve is not P-256, P-384 or P-521"),
    };
}
