using FunctionsAuth.Configuration;
using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;

namespace FunctionsAuth.Benchmarks;

/// <summary>
/// Provider calls per access-token lifetime for one continuously used session, at default settings (10-minute refresh
/// window, a sweep every 5 minutes, a front-end call every 30 seconds with the default 60-second min_ttl): a calculation
/// over simulated time with the real refresh rules (<see cref="RefreshRules.Decide"/>), no I/O. Also shown: the rule
/// before half-lifetime was added (due when the window alone says so), for comparison.
/// </summary>
internal static class RefreshCadenceReport
{
    private static readonly TimeSpan Sweep = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan FrontEndCall = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Simulated = TimeSpan.FromDays(1);

    public static int Run()
    {
        var options = new FunctionsAuthOptions();
        Console.WriteLine("| Access token lifetime | Rule | Provider calls / day | by the sweeper | on the request path | calls per token lifetime |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (var lifetime in new[] { TimeSpan.FromMinutes(5), TimeSpan.FromHours(1) })
        {
            foreach (var windowOnly in new[] { true, false })
            {
                var (sweeper, requestPath) = Simulate(options, lifetime, windowOnly);
                var perLifetime = (sweeper + requestPath) / (Simulated / lifetime);
                Console.WriteLine(Text.Invariant($"| {lifetime.TotalMinutes:0} min | {(windowOnly ? "window only (before)" : "window, not before half the lifetime")} | {sweeper + requestPath} | {sweeper} | {requestPath} | {perLifetime:0.00} |"));
            }
        }

        return 0;
    }

    private static (int Sweeper, int RequestPath) Simulate(FunctionsAuthOptions options, TimeSpan lifetime, bool windowOnly)
    {
        var start = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);
        var row = new SessionEntity
        {
            Provider = "idp",
            RefreshToken = [1],
            AccessToken = [2],
            CreatedAt = start,
            LastUsedAt = start,
            LastRefreshedAt = start,
            AccessTokenIssuedAt = start,
            AccessTokenExpiresAt = start + lifetime,
        };
        var frontEnd = RefreshDemand.ValidFor(options.DefaultMinTtl);
        var sweeperDemand = RefreshDemand.NoLongerDue(options);
        int sweeper = 0, requestPath = 0;

        // Sweeps on the minute grid, front-end calls offset by 7 s so the two never coincide.
        var nextSweep = start + Sweep;
        var nextCall = start + TimeSpan.FromSeconds(7);
        while (nextSweep < start + Simulated || nextCall < start + Simulated)
        {
            if (nextSweep <= nextCall)
            {
                var now = nextSweep;
                var due = windowOnly ? row.AccessTokenExpiresAt - options.RefreshWindow <= now : RefreshRules.Decide(row, sweeperDemand, now) == RowAction.Refresh;
                if (due)
                {
                    Refresh(row, now, lifetime);
                    sweeper++;
                }

                nextSweep += Sweep;
            }
            else
            {
                var now = nextCall;
                if (RefreshRules.Decide(row, frontEnd, now) == RowAction.Refresh)
                {
                    Refresh(row, now, lifetime);
                    requestPath++;
                }

                row.LastUsedAt = now;
                nextCall += FrontEndCall;
            }
        }

        return (sweeper, requestPath);
    }

    private static void Refresh(SessionEntity row, DateTimeOffset now, TimeSpan lifetime)
    {
        row.AccessTokenIssuedAt = now;
        row.AccessTokenExpiresAt = now + lifetime;
        row.LastRefreshedAt = now;
    }
}
