using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;

namespace FunctionsAuth.Tests.Sessions;

/// <summary>When a stored access token satisfies a caller's <c>min_ttl</c>, as a table: no emulator, no provider.</summary>
public sealed class AccessTokenDemandTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    public static TheoryData<string, int?, int, int, bool> Cases => new()
    {
        // description, token lifetime in s (null: handed over, age unknown), age in s, min_ttl in s, satisfied
        { "valid for longer than min_ttl", 3600, 60, 60, true },
        { "exactly min_ttl left", 3600, 3540, 60, true },
        { "less than min_ttl left", 3600, 3541, 60, false },
        { "expired", 3600, 3600, 0, false },
        { "short token, small min_ttl, still enough left", 20, 17, 2, true },
        { "short token, small min_ttl, not enough left", 20, 19, 2, false },
        { "short token young but not enough left for min_ttl", 20, 5, 16, false },
        { "min_ttl above the lifetime, token young", 3599, 60, 3600, true },
        { "min_ttl above the lifetime, past half its life", 3599, 1800, 3600, false },
        { "min_ttl equal to the lifetime, token young", 3600, 1, 3600, true },
        { "min_ttl within a minute of the lifetime, token young", 3600, 30, 3590, true },
        { "min_ttl far above a short lifetime, young", 20, 9, 3600, true },
        { "min_ttl far above a short lifetime, past half", 20, 11, 3600, false },
        { "handed over, age unknown, enough left", null, 0, 60, true },
        { "handed over, age unknown, not enough left", null, 0, 7200, false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void IsSatisfiedBy_Table(string description, int? lifetimeSeconds, int ageSeconds, int minTtlSeconds, bool satisfied)
    {
        var lifetime = TimeSpan.FromSeconds(lifetimeSeconds ?? 3600);
        var issuedAt = Now - TimeSpan.FromSeconds(ageSeconds);
        var session = new SessionEntity
        {
            AccessToken = [1],
            AccessTokenIssuedAt = lifetimeSeconds is null ? null : issuedAt,
            AccessTokenExpiresAt = issuedAt + lifetime,
        };

        var demand = RefreshDemand.ValidFor(TimeSpan.FromSeconds(minTtlSeconds));

        Assert.True(satisfied == demand.IsSatisfiedBy(session, Now), description);
    }

    [Fact]
    public void IsSatisfiedBy_NoAccessToken_NeverSatisfied()
    {
        var session = new SessionEntity { AccessTokenIssuedAt = Now, AccessTokenExpiresAt = Now.AddHours(1) };

        Assert.False(RefreshDemand.ValidFor(TimeSpan.Zero).IsSatisfiedBy(session, Now));
    }
}
