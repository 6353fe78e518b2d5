using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Web;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Security.KeyVault.Secrets;

namespace FunctionsAuth.Tests.Secrets;

/// <summary>
/// An in-memory Key Vault behind the real <see cref="SecretClient"/>: only the transport is fake, so the SDK's pipeline runs
/// for real (challenge authentication, paging through <c>nextLink</c>, error mapping). Each instance has its own vault host,
/// because the SDK caches challenges per host for the whole process. Certificates are stored as Key Vault stores them: the
/// certificate's public part under <c>certificates/</c>, the certificate with its private key as the secret of the same
/// name and version (what <see cref="Azure.Security.KeyVault.Certificates.CertificateClient.DownloadCertificateAsync(string, string, CancellationToken)"/> reads).
/// </summary>
public sealed class FakeKeyVault : HttpPipelineTransport
{
    public const string TenantId = "72f988bf-0000-4000-8000-2d7cd011db47";

    private readonly HttpClientTransport _transport;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, List<StoredVersion>> _secrets = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, List<(string Version, byte[] Cer, DateTimeOffset CreatedOn)>> _certificates = new(StringComparer.OrdinalIgnoreCase);
    private int _requestCount;
    private int _challengeCount;

    public FakeKeyVault(int pageSize = 2)
    {
        PageSize = pageSize;
        VaultUri = new Uri($"https://kv{Guid.NewGuid().ToString("N")[..16]}.vault.azure.net/");
        Credential = new FakeTokenCredential("fake-bearer-" + Guid.NewGuid().ToString("N"));
        _transport = new HttpClientTransport(new Handler(this));
    }

    public Uri VaultUri { get; }

    public FakeTokenCredential Credential { get; }

    /// <summary>Versions per page of a versions listing (small, so paging is exercised).</summary>
    public int PageSize { get; }

    /// <summary>Authenticated requests that reached the vault's API (the 401 challenges are counted apart).</summary>
    public int RequestCount => Volatile.Read(ref _requestCount);

    public int ChallengeCount => Volatile.Read(ref _challengeCount);

    /// <summary>When set, authenticated requests wait for it before being answered (to hold a load in flight).</summary>
    public TaskCompletionSource? Hold { get; set; }

    /// <summary>When set, authenticated requests are answered with this status (an outage, a throttle).</summary>
    public HttpStatusCode? FailWith { get; set; }

    /// <summary>A SecretClient on this vault with retries off, so failures surface at once.</summary>
    public SecretClient CreateClient()
    {
        var options = new SecretClientOptions { Transport = this };
        options.Retry.MaxRetries = 0;
        return new SecretClient(VaultUri, Credential, options);
    }

    /// <summary>Adds a version and returns its id (32 hex digits, like Key Vault's).</summary>
    public string AddVersion(string name, string value, DateTimeOffset createdOn, bool enabled = true, DateTimeOffset? notBefore = null, DateTimeOffset? expiresOn = null)
    {
        var version = Guid.NewGuid().ToString("N");
        lock (_gate)
        {
            if (!_secrets.TryGetValue(name, out var versions))
            {
                _secrets[name] = versions = [];
            }

            versions.Add(new StoredVersion(version, value, createdOn, enabled, notBefore, expiresOn));
        }

        return version;
    }

    /// <summary>A CertificateClient on this vault with retries off.</summary>
    public Azure.Security.KeyVault.Certificates.CertificateClient CreateCertificateClient()
    {
        var options = new Azure.Security.KeyVault.Certificates.CertificateClientOptions { Transport = this };
        options.Retry.MaxRetries = 0;
        return new Azure.Security.KeyVault.Certificates.CertificateClient(VaultUri, Credential, options);
    }

    /// <summary>
    /// Adds a certificate version (a new version is how Key Vault rotates one). The secret of the same name holds it as a
    /// PEM, with its private key unless <paramref name="withPrivateKey"/> is false (what a reader without the key sees).
    /// </summary>
    public string AddCertificate(string name, System.Security.Cryptography.X509Certificates.X509Certificate2 certificate, DateTimeOffset createdOn, bool withPrivateKey = true)
    {
        var pem = certificate.ExportCertificatePem();
        if (withPrivateKey)
        {
            pem += "\n" + System.Security.Cryptography.X509Certificates.RSACertificateExtensions.GetRSAPrivateKey(certificate)!.ExportPkcs8PrivateKeyPem();
        }

        var version = Guid.NewGuid().ToString("N");
        lock (_gate)
        {
            if (!_secrets.TryGetValue(name, out var versions))
            {
                _secrets[name] = versions = [];
            }

            versions.Add(new StoredVersion(version, pem, createdOn, Enabled: true, NotBefore: null, ExpiresOn: null, ContentType: "application/x-pem-file"));
            if (!_certificates.TryGetValue(name, out var certificates))
            {
                _certificates[name] = certificates = [];
            }

            certificates.Add((version, certificate.RawData, createdOn));
        }

        return version;
    }

    public void Disable(string name, string version)
    {
        lock (_gate)
        {
            var versions = _secrets[name];
            var index = versions.FindIndex(v => v.Version == version);
            versions[index] = versions[index] with { Enabled = false };
        }
    }

    public override Request CreateRequest() => _transport.CreateRequest();

    public override void Process(HttpMessage message) => _transport.Process(message);

    public override ValueTask ProcessAsync(HttpMessage message) => _transport.ProcessAsync(message);

    private async Task<HttpResponseMessage> AnswerAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.Headers.Authorization is not { Scheme: "Bearer" } authorization || authorization.Parameter != Credential.Token)
        {
            Interlocked.Increment(ref _challengeCount);
            var challenge = Error(HttpStatusCode.Unauthorized, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.");
            challenge.Headers.TryAddWithoutValidation(
                "WWW-Authenticate", $"Bearer authorization=\"https://login.microsoftonline.com/{TenantId}\", resource=\"https://vault.azure.net\"");
            return challenge;
        }

        Interlocked.Increment(ref _requestCount);
        if (Hold is { } hold)
        {
            await hold.Task.WaitAsync(cancellationToken);
        }

        if (FailWith is { } status)
        {
            return Error(status, "ServiceUnavailable", "The service is unavailable.");
        }

        var segments = request.RequestUri!.AbsolutePath.Trim('/').Split('/');
        if (request.Method == HttpMethod.Get && segments.Length is 2 or 3 && segments[0] == "certificates")
        {
            return GetCertificate(segments[1], segments.Length == 3 ? segments[2] : "");
        }

        if (request.Method != HttpMethod.Get || segments.Length is < 2 or > 3 || segments[0] != "secrets")
        {
            return Error(HttpStatusCode.BadRequest, "BadParameter", "Unsupported request.");
        }

        lock (_gate)
        {
            var name = segments[1];
            if (!_secrets.TryGetValue(name, out var versions))
            {
                return Error(HttpStatusCode.NotFound, "SecretNotFound", $"A secret with (name/id) {name} was not found in this key vault.");
            }

            if (segments.Length == 3 && segments[2] == "versions")
            {
                return ListVersions(request.RequestUri, name, versions);
            }

            // secrets/{name}/ (the SDK's "latest") is the most recently created version, enabled or not.
            var stored = segments.Length == 2 || segments[2].Length == 0
                ? versions.MaxBy(v => v.CreatedOn)!
                : versions.Find(v => v.Version == segments[2]);
            if (stored is null)
            {
                return Error(HttpStatusCode.NotFound, "SecretNotFound", $"A secret with (name/id) {name}/{segments[2]} was not found in this key vault.");
            }

            if (!stored.Enabled)
            {
                return Error(HttpStatusCode.Forbidden, "Forbidden", "Operation get is not allowed on a disabled secret.");
            }

            return Json(HttpStatusCode.OK, writer =>
            {
                writer.WriteString("value", stored.Value);
                if (stored.ContentType is { } contentType)
                {
                    writer.WriteString("contentType", contentType);
                }

                WriteProperties(writer, name, stored);
            });
        }
    }

    private HttpResponseMessage GetCertificate(string name, string version)
    {
        lock (_gate)
        {
            var certificate = _certificates.TryGetValue(name, out var versions)
                ? version.Length == 0 ? versions.MaxBy(c => c.CreatedOn) : versions.Find(c => c.Version == version)
                : default;
            if (certificate.Cer is null)
            {
                return Error(HttpStatusCode.NotFound, "CertificateNotFound", $"A certificate with (name/id) {name} was not found in this key vault.");
            }

            return Json(HttpStatusCode.OK, writer =>
            {
                writer.WriteString("id", $"{VaultUri}certificates/{name}/{certificate.Version}");
                writer.WriteString("kid", $"{VaultUri}keys/{name}/{certificate.Version}");
                writer.WriteString("sid", $"{VaultUri}secrets/{name}/{certificate.Version}");
                writer.WriteString("x5t", Convert.ToBase64String(System.Security.Cryptography.SHA1.HashData(certificate.Cer)).TrimEnd('=').Replace('+', '-').Replace('/', '_'));
                writer.WriteString("cer", Convert.ToBase64String(certificate.Cer));
                writer.WriteStartObject("attributes");
                writer.WriteBoolean("enabled", true);
                writer.WriteNumber("created", certificate.CreatedOn.ToUnixTimeSeconds());
                writer.WriteNumber("updated", certificate.CreatedOn.ToUnixTimeSeconds());
                writer.WriteEndObject();
            });
        }
    }

    private HttpResponseMessage ListVersions(Uri requestUri, string name, List<StoredVersion> versions)
    {
        var query = HttpUtility.ParseQueryString(requestUri.Query);
        var skip = int.Parse(query["$skiptoken"] ?? "0", CultureInfo.InvariantCulture);

        // Key Vault lists versions in no useful order (not by creation): sorting is the caller's job.
        var page = versions.OrderBy(v => v.Version, StringComparer.Ordinal).Skip(skip).Take(PageSize).ToList();
        var next = skip + page.Count < versions.Count
            ? $"{VaultUri}secrets/{name}/versions?api-version={query["api-version"]}&$skiptoken={skip + page.Count}&maxresults={PageSize}"
            : null;

        return Json(HttpStatusCode.OK, writer =>
        {
            writer.WriteStartArray("value");
            foreach (var stored in page)
            {
                writer.WriteStartObject();
                WriteProperties(writer, name, stored);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            if (next is null)
            {
                writer.WriteNull("nextLink");
            }
            else
            {
                writer.WriteString("nextLink", next);
            }
        });
    }

    private void WriteProperties(Utf8JsonWriter writer, string name, StoredVersion stored)
    {
        writer.WriteString("id", $"{VaultUri}secrets/{name}/{stored.Version}");
        writer.WriteStartObject("attributes");
        writer.WriteBoolean("enabled", stored.Enabled);
        if (stored.NotBefore is { } notBefore)
        {
            writer.WriteNumber("nbf", notBefore.ToUnixTimeSeconds());
        }

        if (stored.ExpiresOn is { } expiresOn)
        {
            writer.WriteNumber("exp", expiresOn.ToUnixTimeSeconds());
        }

        writer.WriteNumber("created", stored.CreatedOn.ToUnixTimeSeconds());
        writer.WriteNumber("updated", stored.CreatedOn.ToUnixTimeSeconds());
        writer.WriteString("recoveryLevel", "Recoverable+Purgeable");
        writer.WriteNumber("recoverableDays", 90);
        writer.WriteEndObject();
    }

    private static HttpResponseMessage Error(HttpStatusCode status, string code, string message) =>
        Json(status, writer =>
        {
            writer.WriteStartObject("error");
            writer.WriteString("code", code);
            writer.WriteString("message", message);
            writer.WriteEndObject();
        });

    private static HttpResponseMessage Json(HttpStatusCode status, Action<Utf8JsonWriter> writeBody)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writeBody(writer);
            writer.WriteEndObject();
        }

        return new HttpResponseMessage(status)
        {
            Content = new StringContent(Encoding.UTF8.GetString(buffer.ToArray()), Encoding.UTF8, "application/json"),
        };
    }

    private sealed record StoredVersion(string Version, string Value, DateTimeOffset CreatedOn, bool Enabled, DateTimeOffset? NotBefore, DateTimeOffset? ExpiresOn, string? ContentType = null);

    private sealed class Handler(FakeKeyVault vault) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            vault.AnswerAsync(request, cancellationToken);
    }
}

/// <summary>Hands out one fixed token and records what the challenge asked for.</summary>
public sealed class FakeTokenCredential(string token) : TokenCredential
{
    public string Token { get; } = token;

    public TokenRequestContext? LastRequest { get; private set; }

    public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
    {
        LastRequest = requestContext;
        return new AccessToken(Token, DateTimeOffset.UtcNow.AddHours(1));
    }

    public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        ValueTask.FromResult(GetToken(requestContext, cancellationToken));
}
