using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.IdentityModel.Tokens;

namespace FunctionsAuth.Tests.OAuth;

/// <summary>Self-signed client certificates (RSA 2048, made once per test run) and what a provider registers for them.</summary>
internal static class ClientAuthenticationTestKeys
{
    public static X509Certificate2 Registered { get; } = Create("CN=functionsauth-tests-client");

    /// <summary>A certificate the provider has never seen (a wrong or stale key).</summary>
    public static X509Certificate2 Unregistered { get; } = Create("CN=functionsauth-tests-stranger");

    /// <summary>The certificate and its private key as one PEM, the form local development configures.</summary>
    public static string Pem(X509Certificate2 certificate) =>
        certificate.ExportCertificatePem() + "\n" + certificate.GetRSAPrivateKey()!.ExportPkcs8PrivateKeyPem();

    /// <summary>The public half as a JSON Web Key Set, as it is registered on the provider's client application.</summary>
    public static JsonWebKeySet KeySet(params X509Certificate2[] certificates)
    {
        var set = new JsonWebKeySet();
        foreach (var certificate in certificates)
        {
            using var publicOnly = X509CertificateLoader.LoadCertificate(certificate.RawData);
            set.Keys.Add(JsonWebKeyConverter.ConvertFromX509SecurityKey(new X509SecurityKey(publicOnly), representAsRsaKey: true));
        }

        return set;
    }

    private static X509Certificate2 Create(string subject)
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest(subject, rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddYears(1));

        // Re-imported from PKCS#12 so the private key is usable on every platform (an ephemeral key is not, on Windows).
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null, X509KeyStorageFlags.Exportable);
    }
}

/// <summary>
/// Sits in front of the OAuth client's real handler: records every form sent to a provider and, when told to, replaces
/// the client assertion with an earlier one (a replay nobody honest would send).
/// </summary>
internal sealed class FormRecorder
{
    public ConcurrentQueue<Dictionary<string, string>> Forms { get; } = new();

    public string? ReplayAssertion { get; set; }

    public DelegatingHandler CreateHandler() => new Handler(this);

    private sealed class Handler(FormRecorder recorder) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken);
            var form = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(body).ToDictionary(p => p.Key, p => p.Value.ToString());
            if (request.Headers.Authorization is { } authorization)
            {
                form["(authorization)"] = authorization.Scheme;
            }

            recorder.Forms.Enqueue(form);
            if (recorder.ReplayAssertion is { } replay && form.ContainsKey("client_assertion"))
            {
                form["client_assertion"] = replay;
                form.Remove("(authorization)");
                request.Content = new FormUrlEncodedContent(form);
            }
            else if (request.Content is not null)
            {
                request.Content = new StringContent(body, Encoding.UTF8, "application/x-www-form-urlencoded");
                request.Content.Headers.ContentType!.CharSet = null;
            }

            return await base.SendAsync(request, cancellationToken);
        }
    }
}
