using System.Collections.Concurrent;

namespace FunctionsAuth.DemoProvider;

/// <summary>What the token and revocation endpoints have seen. Counters are exact under concurrency.</summary>
public sealed class DemoOAuthServerStatistics
{
    private readonly ConcurrentDictionary<string, byte> _presentedRefreshTokenHashes = new(StringComparer.Ordinal);
    private long _authorizationCodeRedemptions;
    private long _refreshRequests;
    private long _successfulRefreshes;
    private long _reusedRefreshTokens;
    private long _revocationRequests;
    private long _scopedRefreshRequests;

    /// <summary>Successful token responses to <c>grant_type=authorization_code</c>.</summary>
    public long AuthorizationCodeRedemptions => Interlocked.Read(ref _authorizationCodeRedemptions);

    /// <summary>Token requests with <c>grant_type=refresh_token</c>, counted when received (before validation).</summary>
    public long RefreshRequests => Interlocked.Read(ref _refreshRequests);

    /// <summary>Refresh requests answered with new tokens.</summary>
    public long SuccessfulRefreshes => Interlocked.Read(ref _successfulRefreshes);

    /// <summary>
    /// Refresh requests presenting a refresh token value that an earlier request already presented, except an earlier one
    /// refused for its scope or resource (<c>invalid_scope</c>, <c>invalid_target</c>) before the token was looked at.
    /// </summary>
    public long ReusedRefreshTokens => Interlocked.Read(ref _reusedRefreshTokens);

    /// <summary>Requests received by the revocation endpoint.</summary>
    public long RevocationRequests => Interlocked.Read(ref _revocationRequests);

    public void Reset()
    {
        _presentedRefreshTokenHashes.Clear();
        Interlocked.Exchange(ref _authorizationCodeRedemptions, 0);
        Interlocked.Exchange(ref _refreshRequests, 0);
        Interlocked.Exchange(ref _successfulRefreshes, 0);
        Interlocked.Exchange(ref _reusedRefreshTokens, 0);
        Interlocked.Exchange(ref _revocationRequests, 0);
        Interlocked.Exchange(ref _scopedRefreshRequests, 0);
    }

    internal void RecordRefreshRequest(string? refreshTokenHash)
    {
        Interlocked.Increment(ref _refreshRequests);

        if (refreshTokenHash is not null && !_presentedRefreshTokenHashes.TryAdd(refreshTokenHash, 0))
        {
            Interlocked.Increment(ref _reusedRefreshTokens);
        }
    }

    /// <summary>Refresh requests with a <c>scope</c> or <c>resource</c> parameter, counted when received.</summary>
    public long ScopedRefreshRequests => Interlocked.Read(ref _scopedRefreshRequests);

    internal void RecordScopedRefreshRequest() => Interlocked.Increment(ref _scopedRefreshRequests);

    internal void ForgetRefreshRequest(string? refreshTokenHash)
    {
        if (refreshTokenHash is not null)
        {
            _presentedRefreshTokenHashes.TryRemove(refreshTokenHash, out _);
        }
    }

    internal void RecordSuccessfulRefresh() => Interlocked.Increment(ref _successfulRefreshes);

    internal void RecordAuthorizationCodeRedemption() => Interlocked.Increment(ref _authorizationCodeRedemptions);

    internal void RecordRevocationRequest() => Interlocked.Increment(ref _revocationRequests);
}
