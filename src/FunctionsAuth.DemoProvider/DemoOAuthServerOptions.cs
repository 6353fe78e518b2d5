namespace FunctionsAuth.DemoProvider;

/// <summary>Settable properties so the standalone host can bind them from the <c>DemoProvider</c> configuration section.</summary>
public sealed class DemoOAuthServerOptions
{
    /// <summary>Loopback port to listen on; 0 picks a free one.</summary>
    public int Port { get; set; }

    /// <summary>Registered clients; when empty, <see cref="DemoOAuthClient.CreateDefault"/> is registered.</summary>
    public IList<DemoOAuthClient> Clients { get; set; } = [];

    public TimeSpan AccessTokenLifetime { get; set; } = TimeSpan.FromHours(1);

    public TimeSpan RefreshTokenLifetime { get; set; } = TimeSpan.FromDays(14);

    /// <summary>Adds Keycloak's <c>refresh_expires_in</c> (<see cref="RefreshTokenLifetime"/>) to every token response carrying a refresh token.</summary>
    public bool PublishRefreshExpiresIn { get; set; }

    /// <summary>
    /// How long a refresh token stays usable after it was redeemed (OpenIddict's reuse leeway; Auth0's "reuse interval",
    /// Okta's "grace period"). Zero (the default): strict, any second use is reuse and revokes the grant. Positive: a
    /// redeemed token presented again within it is answered with new tokens, as if it had not been spent; after it,
    /// reuse is detected as usual.
    /// </summary>
    public TimeSpan RefreshTokenReuseLeeway { get; set; }

    internal IReadOnlyList<DemoOAuthClient> EffectiveClients =>
        Clients.Count == 0 ? [DemoOAuthClient.CreateDefault()] : [.. Clients];

    internal void Validate()
    {
        List<string> failures = [];

        if (Port is < 0 or > 65535)
        {
            failures.Add($"Port must be between 0 and 65535 (was {Port}).");
        }

        if (AccessTokenLifetime <= TimeSpan.Zero)
        {
            failures.Add("AccessTokenLifetime must be positive.");
        }

        if (RefreshTokenLifetime <= TimeSpan.Zero)
        {
            failures.Add("RefreshTokenLifetime must be positive.");
        }

        if (RefreshTokenReuseLeeway < TimeSpan.Zero)
        {
            failures.Add("RefreshTokenReuseLeeway must not be negative.");
        }

        var clientIds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var client in Clients)
        {
            if (string.IsNullOrWhiteSpace(client.ClientId))
            {
                failures.Add("Every client needs a ClientId.");
                continue;
            }

            if (!clientIds.Add(client.ClientId))
            {
                failures.Add($"Client '{client.ClientId}' is registered twice.");
            }

            if (client.ClientSecret is { Length: 0 })
            {
                failures.Add($"Client '{client.ClientId}' has an empty secret; use null for a public client.");
            }

            if (client.RedirectUris.Count == 0)
            {
                failures.Add($"Client '{client.ClientId}' needs at least one redirect URI.");
            }

            foreach (var uri in client.RedirectUris)
            {
                if (!uri.IsAbsoluteUri)
                {
                    failures.Add($"Client '{client.ClientId}' has a relative redirect URI '{uri}'.");
                }
            }
        }

        if (failures.Count > 0)
        {
            throw new ArgumentException("Invalid demo OAuth server options: " + string.Join(" ", failures));
        }
    }
}
