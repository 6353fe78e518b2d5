using FunctionsAuth.Configuration;
using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;

namespace FunctionsAuth.Tests.Sessions;

/// <summary>
/// "What does this row get now", as a table over status × token age and lifetime × lease × back-off × demand: the rules
/// the request path, the coordinator and the sweeper share, without Azurite or an OAuth server.
/// </summary>
public sealed class RefreshRulesTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly FunctionsAuthOptions Options = new();

    public enum Lease
    {
        None,
        Held,
        Expired,
    }

    public enum Demand
    {
        FrontEndMinTtl90,
        FrontEndMinTtl7200,
        Sweeper,
    }

    public static TheoryData<string, string, int, int, Lease, bool, Demand, string> Cases => new()
    {
        // status, token age (min), token lifetime (min), lease, in back-off, demand → action
        { "active", "fresh token", 1, 60, Lease.None, false, Demand.FrontEndMinTtl90, "Serve" },
        { "active", "fresh token, leased", 1, 60, Lease.Held, false, Demand.FrontEndMinTtl90, "Serve" },
        { "active", "near expiry", 59, 60, Lease.None, false, Demand.FrontEndMinTtl90, "Refresh" },
        { "active", "near expiry, leased", 59, 60, Lease.Held, false, Demand.FrontEndMinTtl90, "WaitForLease" },
        { "active", "near expiry, lease expired", 59, 60, Lease.Expired, false, Demand.FrontEndMinTtl90, "Refresh" },
        { "active", "near expiry, in back-off", 59, 60, Lease.None, true, Demand.FrontEndMinTtl90, "ServeInBackoff" },
        { "active", "near expiry, in back-off, leased", 59, 60, Lease.Held, true, Demand.FrontEndMinTtl90, "WaitForLease" },
        { "active", "expired, in back-off", 61, 60, Lease.None, true, Demand.FrontEndMinTtl90, "Refresh" },
        { "active", "expired", 61, 60, Lease.None, false, Demand.FrontEndMinTtl90, "Refresh" },
        { "active", "min_ttl above lifetime, young", 10, 60, Lease.None, false, Demand.FrontEndMinTtl7200, "Serve" },
        { "active", "min_ttl above lifetime, past half", 31, 60, Lease.None, false, Demand.FrontEndMinTtl7200, "Refresh" },
        { "active", "sweeper, not due", 40, 60, Lease.None, false, Demand.Sweeper, "Serve" },
        { "active", "sweeper, inside the refresh window", 51, 60, Lease.None, false, Demand.Sweeper, "Refresh" },
        { "active", "sweeper, due but leased", 51, 60, Lease.Held, false, Demand.Sweeper, "WaitForLease" },
        { "active", "sweeper, due, in back-off (its due time is the back-off's end)", 51, 60, Lease.None, true, Demand.Sweeper, "Serve" },
        { "reauth_required", "any", 1, 60, Lease.None, false, Demand.FrontEndMinTtl90, "ReauthRequired" },
        { "reauth_required", "sweeper", 59, 60, Lease.None, false, Demand.Sweeper, "ReauthRequired" },
        { "failing", "valid token", 1, 60, Lease.None, false, Demand.FrontEndMinTtl90, "Serve" },
        { "failing", "expired token: refreshed on demand", 61, 60, Lease.None, false, Demand.FrontEndMinTtl90, "Refresh" },
        { "failing", "sweeper leaves it alone", 59, 60, Lease.None, false, Demand.Sweeper, "Serve" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Decide_Table(string status, string description, int ageMinutes, int lifetimeMinutes, Lease lease, bool inBackoff, Demand demand, string expected)
    {
        var issuedAt = Now.AddMinutes(-ageMinutes);
        var row = new SessionEntity
        {
            Status = status,
            RefreshToken = status == SessionStatus.ReauthRequired ? null : [1],
            AccessToken = status == SessionStatus.ReauthRequired ? null : [2],
            AccessTokenIssuedAt = issuedAt,
            AccessTokenExpiresAt = issuedAt.AddMinutes(lifetimeMinutes),
            CreatedAt = Now.AddDays(-1),
            LastUsedAt = Now.AddMinutes(-1),
            LastRefreshedAt = issuedAt,
            LeaseId = lease == Lease.None ? null : "lease",
            LeaseExpiresAt = lease switch { Lease.Held => Now.AddSeconds(30), Lease.Expired => Now.AddSeconds(-1), _ => null },
            FailureCount = inBackoff ? 2 : 0,
            NextAttemptAt = inBackoff ? Now.AddMinutes(5) : null,
        };

        var action = RefreshRules.Decide(row, ToDemand(demand), Now);

        Assert.True(Enum.Parse<RowAction>(expected) == action, $"{status}, {description}: expected {expected}, got {action}");
    }

    [Fact]
    public void Decide_NoRow_Invalid()
    {
        Assert.Equal(RowAction.Invalid, RefreshRules.Decide(null, RefreshDemand.ValidFor(TimeSpan.Zero), Now));
    }

    private static RefreshDemand ToDemand(Demand demand) => demand switch
    {
        Demand.FrontEndMinTtl90 => RefreshDemand.ValidFor(TimeSpan.FromSeconds(90)),
        Demand.FrontEndMinTtl7200 => RefreshDemand.ValidFor(TimeSpan.FromSeconds(7200)),
        _ => RefreshDemand.NoLongerDue(Options),
    };
}
