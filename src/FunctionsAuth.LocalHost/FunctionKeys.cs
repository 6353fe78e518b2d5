using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;

namespace FunctionsAuth.LocalHost;

/// <summary>The function-key check of the Functions host: <c>x-functions-key</c> header or <c>?code=</c>.</summary>
internal sealed class FunctionKeys
{
    public const string Setting = "LocalHost:FunctionKey";

    private readonly byte[] key;

    public FunctionKeys(IConfiguration configuration)
    {
        var configured = configuration[Setting];
        if (string.IsNullOrWhiteSpace(configured) || configured.Length < 16)
        {
            throw new InvalidOperationException($"Set {Setting.Replace(":", "__", StringComparison.Ordinal)} (at least 16 characters) in local.settings.json Values or the environment: the local host checks function keys like Azure does.");
        }

        key = Encoding.UTF8.GetBytes(configured);
    }

    public bool IsAuthorized(HttpRequest request)
    {
        string? presented = request.Headers["x-functions-key"];
        if (string.IsNullOrEmpty(presented))
        {
            presented = request.Query["code"];
        }

        return !string.IsNullOrEmpty(presented) && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), key);
    }
}
