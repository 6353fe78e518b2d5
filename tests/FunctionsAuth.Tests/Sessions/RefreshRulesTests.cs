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
        { "active", "sweeper, 5-minute token, 1 min old: inside the window, not half its life", 1, 5, Lease.None, false, Demand.Sweeper, "Serve" },
        { "active", "sweeper, 5-minute token, 2 min old", 2, 5, Lease.None, false, Demand.Sweeper, "Serve" },
        { "active", "sweeper, 5-minute token, past half its life", 3, 5, Lease.None, false, Demand.Sweeper, "Refresh" },
        { "active", "sweeper, 15-minute token, 6 min old: not half yet (the window alone says due)", 6, 15, Lease.None, false, Demand.Sweeper, "Serve" },
        { "active", "sweeper, 15-minute token, 8 min old", 8, 15, Lease.None, false, Demand.Sweeper, "Refresh" },
        { "active", "sweeper, 1-hour token, 49 min old: the window rules", 49, 60, Lease.None, false, Demand.Sweeper, "Serve" },
        { "active", "front end, 5-minute token, 1 min old: min_ttl met", 1, 5, Lease.None, false, Demand.FrontEndMinTtl90, "Serve" },
        { "active", "front end, 5-minute token, 4 min old: min_ttl not met", 4, 5, Lease.None, false, Demand.FrontEndMinTtl90, "Refresh" },
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

    /// <summary>The refresh token's own death (<c>refresh_expires_in</c>), minutes from now; negative: already dead.</summary>
    public static TheoryData<string, int, int, int?, Demand, string> RefreshTokenDeathCases => new()
    {
        // description, token age, lifetime, refresh token dies in (min), demand → action
        { "dead, token expired: reauth without a call", 61, 60, -1, Demand.FrontEndMinTtl90, "ReauthRequired" },
        { "dead, token still meets min_ttl: served", 10, 60, -1, Demand.FrontEndMinTtl90, "Serve" },
        { "dead, min_ttl not met: reauth without a call", 59, 60, -1, Demand.FrontEndMinTtl90, "ReauthRequired" },
        { "dead, sweeper: nothing planned", 59, 60, -1, Demand.Sweeper, "Serve" },
        { "alive, token expired: refresh", 61, 60, 20, Demand.FrontEndMinTtl90, "Refresh" },
        { "alive, sweeper, due before it dies: refresh", 51, 60, 20, Demand.Sweeper, "Refresh" },
        { "alive, sweeper, refresh would come after it dies: not planned", 51, 60, 0, Demand.Sweeper, "Serve" },
        { "unknown death, sweeper, due: refresh", 51, 60, null, Demand.Sweeper, "Refresh" },
    };

    [Theory]
    [MemberData(nameof(RefreshTokenDeathCases))]
    public void Decide_RefreshTokenDeath_Table(string description, int ageMinutes, int lifetimeMinutes, int? diesInMinutes, Demand demand, string expected)
    {
        var issuedAt = Now.AddMinutes(-ageMinutes);
        var row = new SessionEntity
        {
            Status = SessionStatus.Active,
            RefreshToken = [1],
            AccessToken = [2],
            AccessTokenIssuedAt = issuedAt,
            AccessTokenExpiresAt = issuedAt.AddMinutes(lifetimeMinutes),
            CreatedAt = Now.AddDays(-1),
            LastUsedAt = Now.AddMinutes(-1),
            LastRefreshedAt = issuedAt,
            RefreshTokenExpiresAt = diesInMinutes is { } m ? Now.AddMinutes(m) : null,
        };

        var action = RefreshRules.Decide(row, ToDemand(demand), Now);

        Assert.True(Enum.Parse<RowAction>(expected) == action, $"{description}: expected {expected}, got {action}");
    }

    [Theory]
    [InlineData(5, 10, 2.5)]
    [InlineData(15, 10, 7.5)]
    [InlineData(20, 10, 10)]
    [InlineData(60, 10, 50)]
    [InlineData(1440, 10, 1430)]
    public void ProactiveRefreshAt_IsTheLaterOfTheWindowAndHalfTheLifetime(int lifetimeMinutes, int windowMinutes, double expectedMinutesAfterIssue)
    {
        var due = RefreshRules.ProactiveRefreshAt(Now, Now.AddMinutes(lifetimeMinutes), TimeSpan.FromMinutes(windowMinutes));

        Assert.Equal(Now.AddMinutes(expectedMinutesAfterIssue), due);
    }

    [Fact]
    public void ProactiveRefreshAt_TokenOfUnknownAge_ByTheWindowAlone()
    {
        Assert.Equal(Now.AddMinutes(-5), RefreshRules.ProactiveRefreshAt(null, Now.AddMinutes(5), TimeSpan.FromMinutes(10)));
    }

    /// <summary>Due times per the provider's idle policy: a 1-hour token issued now, its refresh token's death, last use, settings.</summary>
    public static TheoryData<string, int?, int, string?, bool?, double?> IdlePolicyCases => new()
    {
        // description, refresh token dies in (min, null: unknown), last used (min ago), provider ActivityWindow, KeepAlive → due (min from now, null: none)
        { "unknown death, used just now: the window", null, 1, null, null, 50 },
        { "unknown death, idle 2 days: keep-alive after IdleRefreshInterval", null, 2880, null, null, 7 * 1440 },
        { "unknown death, idle 2 days, KeepAlive off: nothing", null, 2880, null, false, null },
        { "dies in 30 min (Keycloak idle), used 5 min ago: active within the refresh lifetime, but 50 min is past death", 30, 5, null, null, null },
        { "dies in 2 h, used 5 min ago: the window", 120, 5, null, null, 50 },
        { "dies in 2 h, used 60 min ago: a refresh at +50 is within 2 h of that use", 120, 60, null, null, 50 },
        { "dies in 2 h, used 90 min ago: a refresh at +50 would be 140 min after it, past the refresh lifetime", 120, 90, null, null, null },
        { "dies in 2 h, used 3 h ago: idle beyond the refresh lifetime, no keep-alive", 120, 180, null, null, null },
        { "dies in 2 h, used 3 h ago, provider window 1 day: due", 120, 180, "1.00:00:00", null, 50 },
        { "dies in 2 h, idle 2 days, KeepAlive on: its time is past death, nothing", 120, 2880, null, true, null },
        { "dies in 30 days, idle 2 days, KeepAlive on: keep-alive before death", 43200, 2880, null, true, 7 * 1440 },
    };

    [Theory]
    [MemberData(nameof(IdlePolicyCases))]
    public void RefreshDueAt_IdlePolicy_Table(string description, int? diesInMinutes, int lastUsedMinutesAgo, string? activityWindow, bool? keepAlive, double? expectedDueInMinutes)
    {
        var options = new FunctionsAuthOptions();
        options.Providers["idp"] = new ProviderOptions
        {
            ClientId = "client",
            ActivityWindow = activityWindow is null ? null : TimeSpan.Parse(activityWindow, System.Globalization.CultureInfo.InvariantCulture),
            KeepAlive = keepAlive,
        };
        var row = new SessionEntity
        {
            Provider = "idp",
            Status = SessionStatus.Active,
            RefreshToken = [1],
            AccessToken = [2],
            AccessTokenIssuedAt = Now,
            AccessTokenExpiresAt = Now.AddHours(1),
            CreatedAt = Now.AddDays(-3),
            LastUsedAt = Now.AddMinutes(-lastUsedMinutesAgo),
            LastRefreshedAt = Now,
            RefreshTokenExpiresAt = diesInMinutes is { } m ? Now.AddMinutes(m) : null,
        };

        var due = RefreshSchedule.RefreshDueAt(row, options);

        Assert.True(
            (expectedDueInMinutes is null ? null : Now.AddMinutes(expectedDueInMinutes.Value)) == due,
            $"{description}: expected {expectedDueInMinutes?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}, got {due}");
    }

    [Fact]
    public void PurgeAt_RefreshTokenDead_AfterTheRetentionPeriod()
    {
        var row = new SessionEntity { CreatedAt = Now.AddDays(-1), RefreshTokenExpiresAt = Now.AddMinutes(30) };

        Assert.Equal(Now.AddMinutes(30) + Options.Sweeper.RetentionPeriod, RefreshSchedule.PurgeAt(row, Options.Sweeper));
    }

    public enum Scoped
    {
        NotCached,
        Fresh,
        NearExpiry,
        Expired,
    }

    /// <summary>
    /// A scoped token is decided on the session's state (status, lease, back-off, refresh-token death) with its own token's
    /// fields (<see cref="ScopedTokenEntity.ViewOf"/>): the session's own token never answers for it, the one lease holds
    /// for every token of the session.
    /// </summary>
    public static TheoryData<string, string, Scoped, bool, Lease, bool, Demand, string> ScopedCases => new()
    {
        // status, description, scoped token, session's own token fresh, lease, in back-off, demand → action
        { "active", "not cached, own token fresh", Scoped.NotCached, true, Lease.None, false, Demand.FrontEndMinTtl90, "Refresh" },
        { "active", "not cached, another scope refreshing", Scoped.NotCached, true, Lease.Held, false, Demand.FrontEndMinTtl90, "WaitForLease" },
        { "active", "not cached, in back-off: nothing to serve", Scoped.NotCached, true, Lease.None, true, Demand.FrontEndMinTtl90, "Refresh" },
        { "active", "fresh, own token expired", Scoped.Fresh, false, Lease.None, false, Demand.FrontEndMinTtl90, "Serve" },
        { "active", "fresh, leased", Scoped.Fresh, true, Lease.Held, false, Demand.FrontEndMinTtl90, "Serve" },
        { "active", "near expiry, own token fresh", Scoped.NearExpiry, true, Lease.None, false, Demand.FrontEndMinTtl90, "Refresh" },
        { "active", "near expiry, another scope refreshing", Scoped.NearExpiry, true, Lease.Held, false, Demand.FrontEndMinTtl90, "WaitForLease" },
        { "active", "near expiry, lease expired", Scoped.NearExpiry, true, Lease.Expired, false, Demand.FrontEndMinTtl90, "Refresh" },
        { "active", "near expiry, in back-off", Scoped.NearExpiry, true, Lease.None, true, Demand.FrontEndMinTtl90, "ServeInBackoff" },
        { "active", "expired, in back-off", Scoped.Expired, true, Lease.None, true, Demand.FrontEndMinTtl90, "Refresh" },
        { "active", "sweeper, near expiry: due by its own token", Scoped.NearExpiry, true, Lease.None, false, Demand.Sweeper, "Refresh" },
        { "active", "sweeper, fresh, own token expired", Scoped.Fresh, false, Lease.None, false, Demand.Sweeper, "Serve" },
        { "reauth_required", "fresh scoped token of a dead session", Scoped.Fresh, true, Lease.None, false, Demand.FrontEndMinTtl90, "ReauthRequired" },
        { "failing", "expired: refreshed on demand", Scoped.Expired, true, Lease.None, false, Demand.FrontEndMinTtl90, "Refresh" },
    };

    [Theory]
    [MemberData(nameof(ScopedCases))]
    public void Decide_ScopedToken_Table(string status, string description, Scoped scoped, bool ownFresh, Lease lease, bool inBackoff, Demand demand, string expected)
    {
        var ownIssued = Now.AddMinutes(ownFresh ? -1 : -61);
        var session = new SessionEntity
        {
            Status = status,
            RefreshToken = status == SessionStatus.ReauthRequired ? null : [1],
            AccessToken = status == SessionStatus.ReauthRequired ? null : [2],
            AccessTokenIssuedAt = ownIssued,
            AccessTokenExpiresAt = ownIssued.AddMinutes(60),
            CreatedAt = Now.AddDays(-1),
            LastUsedAt = Now.AddMinutes(-1),
            LastRefreshedAt = Now.AddMinutes(-1),
            LeaseId = lease == Lease.None ? null : "lease",
            LeaseExpiresAt = lease switch { Lease.Held => Now.AddSeconds(30), Lease.Expired => Now.AddSeconds(-1), _ => null },
            FailureCount = inBackoff ? 2 : 0,
            NextAttemptAt = inBackoff ? Now.AddMinutes(5) : null,
        };
        var scopedIssued = Now.AddMinutes(scoped switch { Scoped.Fresh => -1, Scoped.NearExpiry => -59, _ => -61 });
        var row = scoped == Scoped.NotCached ? null : new ScopedTokenEntity
        {
            AccessToken = [3],
            AccessTokenIssuedAt = scopedIssued,
            AccessTokenExpiresAt = scopedIssued.AddMinutes(60),
            LastUsedAt = Now.AddMinutes(-1),
        };

        var action = RefreshRules.Decide(ScopedTokenEntity.ViewOf(session, row), ToDemand(demand), Now);

        Assert.True(Enum.Parse<RowAction>(expected) == action, $"{status}, {description}: expected {expected}, got {action}");
    }

    [Fact]
    public void ViewOf_KeepsTheSessionsStateAndETag_TakesTheScopedTokensFields()
    {
        var session = new SessionEntity { ETag = new Azure.ETag("\"session\""), Generation = 7, LeaseId = "lease", Scope = "openid api", AccessToken = [1], TokenType = "Bearer" };
        var scoped = new ScopedTokenEntity { Scope = "api", AccessToken = [2], TokenType = "DPoP", AccessTokenExpiresAt = Now };

        var view = ScopedTokenEntity.ViewOf(session, scoped);
        var empty = ScopedTokenEntity.ViewOf(session, null);

        Assert.Equal((session.ETag, 7L, "lease"), (view.ETag, view.Generation, view.LeaseId));
        Assert.Equal(("api", "DPoP", Now), (view.Scope, view.TokenType, view.AccessTokenExpiresAt));
        Assert.Equal([2], view.AccessToken);
        Assert.Null(empty.AccessToken);
        Assert.Null(empty.AccessTokenExpiresAt);
        Assert.Equal([1], session.AccessToken);
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
