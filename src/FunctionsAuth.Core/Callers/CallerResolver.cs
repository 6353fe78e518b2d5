using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FunctionsAuth.Configuration;
using FunctionsAuth.Secrets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsAuth.Callers;

/// <summary>Turns a request's <see cref="CallerCredentials"/> into the <see cref="CallerId"/> sessions are bound to, or null when they prove no caller.</summary>
internal sealed class CallerResolver(IOptions<FunctionsAuthOptions> options, ISecretSource secrets, ILogger<CallerResolver> logger)
{
    /// <summary>Shorter caller keys are refused (a key is a credential: 32 characters of base64 is 192 bits).</summary>
    public const int MinimumKeyLength = 32;

    private const int MaxPrincipalLength = 16 * 1024;

    public ValueTask<CallerId?> ResolveAsync(CallerCredentials credentials, CancellationToken cancellationToken)
    {
        var callers = options.Value.Callers;
        return callers.Mode switch
        {
            CallerIdentitySource.AppServiceAuthentication => ValueTask.FromResult(FromClientPrincipal(credentials.ClientPrincipal, callers)),
            CallerIdentitySource.CallerKeys => FromCallerKeyAsync(credentials.CallerKey, callers, cancellationToken),
            _ => ValueTask.FromResult<CallerId?>(CallerId.Default),
        };
    }

    private CallerId? FromClientPrincipal(string? header, CallerOptions callers)
    {
        // Start-up refuses this mode where the platform does not set the header (see the options validator); this is
        // the second lock on the same door.
        if (!callers.ClientPrincipalHeaderTrusted || header is not { Length: > 0 and <= MaxPrincipalLength })
        {
            Log.CallerNotIdentified(logger, "no_client_principal");
            return null;
        }

        try
        {
            var json = Convert.FromBase64String(header);
            using var document = JsonDocument.Parse(json);
            if (!document.RootElement.TryGetProperty("claims", out var claims) || claims.ValueKind != JsonValueKind.Array)
            {
                Log.CallerNotIdentified(logger, "no_claims");
                return null;
            }

            // azp (v2 tokens), else appid (v1): the client id of the app that obtained the token, that is the front end.
            string? azp = null, appid = null;
            foreach (var claim in claims.EnumerateArray())
            {
                if (claim.ValueKind != JsonValueKind.Object
                    || !claim.TryGetProperty("typ", out var typ) || typ.ValueKind != JsonValueKind.String
                    || !claim.TryGetProperty("val", out var val) || val.ValueKind != JsonValueKind.String)
                {
                    continue;
                }

                switch (typ.GetString())
                {
                    case "azp":
                        azp ??= val.GetString();
                        break;
                    case "appid":
                        appid ??= val.GetString();
                        break;
                }
            }

            if ((azp ?? appid) is { Length: > 0 and <= 128 } clientId)
            {
                return new CallerId("app:" + clientId);
            }

            Log.CallerNotIdentified(logger, "no_client_id_claim");
            return null;
        }
        catch (Exception ex) when (ex is FormatException or JsonException)
        {
            Log.CallerNotIdentified(logger, "unreadable_client_principal");
            return null;
        }
    }

    private async ValueTask<CallerId?> FromCallerKeyAsync(string? presented, CallerOptions callers, CancellationToken cancellationToken)
    {
        if (presented is not { Length: >= MinimumKeyLength and <= 1024 })
        {
            Log.CallerNotIdentified(logger, "no_caller_key");
            return null;
        }

        var configured = new List<(string Name, string Key)>(callers.Keys.Count);
        foreach (var (name, secretName) in callers.Keys)
        {
            var key = await secrets.GetSecretAsync(secretName, refresh: false, cancellationToken);
            if (key.Length < MinimumKeyLength)
            {
                Log.CallerKeyTooShort(logger, name, secretName);
                continue;
            }

            configured.Add((name, key));
        }

        var match = Match(presented, configured);
        if (match is null)
        {
            Log.CallerNotIdentified(logger, "unknown_caller_key");
            return null;
        }

        return new CallerId("key:" + match);
    }

    /// <summary>
    /// Hashes of equal length compared in constant time, against every configured key every time: neither the time
    /// taken nor an early exit says how much of a key matched, or which caller it nearly was.
    /// </summary>
    private static string? Match(string presented, List<(string Name, string Key)> configured)
    {
        Span<byte> presentedHash = stackalloc byte[SHA256.HashSizeInBytes];
        Span<byte> configuredHash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(presented), presentedHash);
        string? match = null;
        foreach (var (name, key) in configured)
        {
            SHA256.HashData(Encoding.UTF8.GetBytes(key), configuredHash);
            if (CryptographicOperations.FixedTimeEquals(presentedHash, configuredHash))
            {
                match ??= name;
            }
        }

        return match;
    }
}
