using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Azure.Data.Tables;
using Azure.Storage.Queues;
using FunctionsAuth.Configuration;
using FunctionsAuth.DemoProvider;
using FunctionsAuth.Functions;
using FunctionsAuth.LocalHost;
using FunctionsAuth.OAuth;
using FunctionsAuth.Sweeping;
using FunctionsAuth.Tests.Infrastructure;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FunctionsAuth.Tests.Sweeping;

/// <summary>
/// The fanned-out sweep: the timer function plans work items onto a real Azurite queue, and local hosts (the same
/// function classes, the local host's queue listener with the Functions host's semantics) refresh them against the
/// real OAuth server (OpenIddict, rotating refresh tokens with reuse detection). Each test has its own queue and
/// tables; the hosts of one test are instances of one deployment.
/// </summary>
public sealed class FanOutTests : IAsyncLifetime
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(30);

    /// <summary>Into the default 10-minute refresh window of the tokens issued at the start.</summary>
    private static readonly TimeSpan IntoWindow = Lifetime - TimeSpan.FromMinutes(9);

    private readonly string queueName = "sweep-" + Guid.NewGuid().ToString("N")[..16];
    private DemoOAuthServer server = null!;
    private TestEnvironment environment = null!;

    public async Task InitializeAsync()
    {
        server = await DemoOAuthServer.StartAsync(new DemoOAuthServerOptions { Clients = [TestEnvironment.DemoClient], AccessTokenLifetime = Lifetime });
        environment = (await TestEnvironment.CreateAsync()).WithDemoProvider(server);
        environment.Settings[SweeperOptions.QueueNameSetting] = queueName;
        environment.Settings["FunctionsAuth:Sweeper:FanOut"] = "Queue";

        // Pick up work promptly; the defaults (host.json) poll an idle queue every 2 s.
        environment.Settings["AzureFunctionsJobHost:extensions:queues:maxPollingInterval"] = "00:00:00.200";
    }

    /// <summary>After every test: the OAuth server never saw a refresh token twice.</summary>
    public async Task DisposeAsync()
    {
        var reused = server.Statistics.ReusedRefreshTokens;
        await server.DisposeAsync();
        Assert.Equal(0, reused);
    }

    [Fact]
    public async Task ThreeHosts_TwoThousandDueSessions_EachRefreshedOnceWithinTheGlobalRateAndSharedAmongThem()
    {
        const int Sessions = 2_000;
        const int Limit = 150;
        environment.Settings["FunctionsAuth:Sweeper:ProviderRequestsPerSecond"] = Limit.ToString(System.Globalization.CultureInfo.InvariantCulture);
        environment.Settings["FunctionsAuth:Sweeper:MaxInstances"] = "3";
        var taps = new[] { new ProviderTap(), new ProviderTap(), new ProviderTap() };
        var hosts = new List<TestHost>();
        try
        {
            foreach (var tap in taps)
            {
                hosts.Add(await StartHostAsync(tap));
            }

            await SignInAsync(hosts[0], Sessions);
            foreach (var tap in taps)
            {
                tap.Clear();
            }

            environment.Clock.Advance(IntoWindow);
            var refreshesBefore = server.Statistics.RefreshRequests;

            // The timer function itself plans; the three hosts' queue listeners do the rest.
            await new SweeperFunction(hosts[0].Services.GetRequiredService<ISweeper>()).Run(new TimerInfo(), CancellationToken.None);
            Assert.Contains(hosts[0].Logs.Lines, l => l.Contains($"{Sessions} due index rows handed to the queue {queueName}", StringComparison.Ordinal));

            await Eventually.TrueAsync(() => server.Statistics.SuccessfulRefreshes - refreshesBefore >= Sessions, "every session was refreshed", TimeSpan.FromMinutes(3));
            await Eventually.TrueAsync(async () => await CountAsync(queueName) == 0, "every work item was completed");

            Assert.Equal(Sessions, server.Statistics.RefreshRequests - refreshesBefore);
            Assert.Equal(0, server.Statistics.ReusedRefreshTokens);
            Assert.Equal(Sessions, await CountRowsAsync(generation: 1));
            Assert.Equal(0, await CountRowsAsync(generation: 0));

            // Each host did a real share (the three shares of the rate limit are equal).
            var shares = taps.Select(t => t.Requests).ToArray();
            Assert.Equal(Sessions, shares.Sum());
            Assert.All(shares, share => Assert.InRange(share, Sessions / 10, Sessions));

            // Over any one-second window, as the provider receives them: never above the limit.
            var busiest = ProviderTap.BusiestSecond(taps);
            Assert.InRange(busiest, 1, Limit);
        }
        finally
        {
            foreach (var host in hosts)
            {
                await host.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task HostKilledMidItem_OthersFinishItsItemAfterItsLease_NothingRefreshedTwice()
    {
        const int Sessions = 240;

        // A provider call fails over within the lease, and the killed host's messages come back just after its leases.
        environment.Settings["FunctionsAuth:ProviderTimeout"] = "00:00:03";
        environment.Settings["FunctionsAuth:LeaseDuration"] = "00:00:18";
        environment.Settings["LocalHost:Queues:MessageLease"] = "00:00:21";
        environment.Settings["FunctionsAuth:Sweeper:ProviderRequestsPerSecond"] = "90";
        environment.Settings["FunctionsAuth:Sweeper:MaxInstances"] = "3";
        var doomedTap = new ProviderTap();
        var survivorTaps = new[] { new ProviderTap(), new ProviderTap() };
        var doomed = await StartHostAsync(doomedTap);
        var survivors = new List<TestHost>();
        try
        {
            await SignInAsync(doomed, Sessions);
            doomedTap.Clear();
            environment.Clock.Advance(IntoWindow);
            var refreshesBefore = server.Statistics.RefreshRequests;
            await doomed.Services.GetRequiredService<ISweeper>().RunAsync(CancellationToken.None);

            // The doomed host alone takes items (two at a time); once it is refreshing, it dies: its listener stops
            // without draining, and nothing it had in hand reaches the provider any more.
            await Eventually.TrueAsync(() => doomedTap.Requests >= 5, "the doomed host is refreshing");
            doomedTap.Freeze();
            await KillAsync(doomed);

            foreach (var tap in survivorTaps)
            {
                survivors.Add(await StartHostAsync(tap));
            }

            // The killed host's two items come back once their lease runs out. Should one of its sessions still be
            // leased by then (the machine slow enough for a claim to land seconds after the kill), the next timer run
            // plans it again, as in production.
            await Eventually.TrueAsync(
                async () =>
                {
                    if (server.Statistics.SuccessfulRefreshes - refreshesBefore >= Sessions)
                    {
                        return true;
                    }

                    if (await CountAsync(queueName) == 0)
                    {
                        await survivors[0].Services.GetRequiredService<ISweeper>().RunAsync(CancellationToken.None);
                    }

                    return false;
                },
                "the survivors finished the killed host's items",
                TimeSpan.FromMinutes(2));
            await Eventually.TrueAsync(async () => await CountAsync(queueName) == 0, "every work item was completed");
            var doneByDoomed = doomedTap.Requests;
            var itemsBySurvivors = survivors.Sum(h => h.Logs.Lines.Count(l => l.Contains("Sweep work item completed", StringComparison.Ordinal)));

            Assert.InRange(doneByDoomed, 5, Sessions - 1);
            Assert.InRange(itemsBySurvivors, 3, 100);
            Assert.Equal(Sessions, server.Statistics.RefreshRequests - refreshesBefore);
            Assert.Equal(Sessions - doneByDoomed, survivorTaps.Sum(t => t.Requests));
            Assert.Equal(0, server.Statistics.ReusedRefreshTokens);
            Assert.Equal(Sessions, await CountRowsAsync(generation: 1));
        }
        finally
        {
            // Let the dead host's hung calls fail (after the assertions), so it can be disposed.
            doomedTap.Release();
            await doomed.DisposeAsync();
            foreach (var host in survivors)
            {
                await host.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task PoisonItem_ReportedAndDoesNotBlockTheRest()
    {
        environment.Settings["AzureFunctionsJobHost:extensions:queues:maxDequeueCount"] = "2";
        environment.Settings["AzureFunctionsJobHost:extensions:queues:visibilityTimeout"] = "00:00:00.200";
        environment.Settings["FunctionsAuth:Sweeper:MaxInstances"] = "4";
        await using var host = await StartHostAsync(new ProviderTap());
        using var items = new MetricCollector<long>(host.Services.GetRequiredService<IMeterFactory>(), FunctionsAuth.Diagnostics.FunctionsAuthMetrics.MeterName, "functionsauth.sweeper.work_items");
        await SignInAsync(host, 8);
        environment.Clock.Advance(IntoWindow);
        var refreshesBefore = server.Statistics.RefreshRequests;

        // A message no planner wrote, ahead of the real work items.
        var queue = (await Azurite.CreateQueueServiceClientAsync()).GetQueueClient(queueName);
        await queue.CreateIfNotExistsAsync();
        await queue.SendMessageAsync("""{"v":1,"planned_at":"2026-12-01T09:00:00Z","rows":[]}""");
        await host.Services.GetRequiredService<ISweeper>().RunAsync(CancellationToken.None);

        await Eventually.TrueAsync(() => server.Statistics.SuccessfulRefreshes - refreshesBefore >= 8, "the real items were refreshed");
        await Eventually.TrueAsync(() => host.Logs.Lines.Any(l => l.Contains("failed every attempt and was moved to", StringComparison.Ordinal)), "the poison item was reported");
        await Eventually.TrueAsync(async () => await CountAsync(queueName) == 0 && await CountAsync(queueName + "-poison") == 0, "both queues are empty");

        Assert.Equal(8, server.Statistics.RefreshRequests - refreshesBefore);
        Assert.Equal(8, await CountRowsAsync(generation: 1));
        Assert.Equal(2, host.Logs.Lines.Count(l => l.Contains("Sweeper: a message on the work-item queue is not a sweep work item (row_count)", StringComparison.Ordinal)));
        var snapshot = items.GetMeasurementSnapshot();
        Assert.Equal(1, snapshot.Where(m => (string?)m.Tags["stage"] == "poison").Sum(m => m.Value));
        Assert.Equal(4, snapshot.Where(m => (string?)m.Tags["stage"] == "planned").Sum(m => m.Value));
        Assert.Equal(4, snapshot.Where(m => (string?)m.Tags["stage"] == "completed").Sum(m => m.Value));
        Assert.Equal(2, snapshot.Where(m => (string?)m.Tags["stage"] == "malformed").Sum(m => m.Value));
        Assert.Contains(host.Logs.Lines, l => l.Contains($"moved to {queueName}-poison; its sessions stay in the due index", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WorkItemDeliveredTwice_ToTwoHostsAtOnceAndOnceMore_RefreshesEachSessionOnce()
    {
        environment.Settings["AzureWebJobs.SweepWorker.Disabled"] = "true";
        environment.Settings["FunctionsAuth:Sweeper:MaxInstances"] = "1";
        await using var first = await StartHostAsync(new ProviderTap());
        await using var second = await StartHostAsync(new ProviderTap());
        await SignInAsync(first, 12);
        environment.Clock.Advance(IntoWindow);
        var refreshesBefore = server.Statistics.RefreshRequests;

        await first.Services.GetRequiredService<ISweeper>().RunAsync(CancellationToken.None);
        var queue = (await Azurite.CreateQueueServiceClientAsync()).GetQueueClient(queueName);
        var message = Assert.Single((await queue.PeekMessagesAsync(10)).Value).Body.ToString();

        var workers = new[] { first, second }.Select(h => new SweepWorkerFunction(h.Services.GetRequiredService<ISweepWorker>())).ToArray();
        await Task.WhenAll(workers.Select(w => w.Run(message, CancellationToken.None)));
        await workers[0].Run(message, CancellationToken.None);

        Assert.Equal(12, server.Statistics.RefreshRequests - refreshesBefore);
        Assert.Equal(12, await CountRowsAsync(generation: 1));
        var itemLines = first.Logs.Lines.Concat(second.Logs.Lines).Where(l => l.Contains("Sweep work item completed", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, itemLines.Count);
        Assert.Equal(12, itemLines.Sum(l => int.Parse(Between(l, "Refreshed=", " |"), System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Fact]
    public async Task Auto_FewDueSessions_SweptInProcessWithoutTheQueue_ManyHandedToTheQueue()
    {
        environment.Settings["AzureWebJobs.SweepWorker.Disabled"] = "true";
        environment.Settings["FunctionsAuth:Sweeper:FanOut"] = "Auto";
        environment.Settings["FunctionsAuth:Sweeper:FanOutThreshold"] = "5";
        environment.Settings["FunctionsAuth:Sweeper:WorkItemSize"] = "4";
        await using var host = await StartHostAsync(new ProviderTap());
        var sweeper = host.Services.GetRequiredService<Sweeper>();
        await SignInAsync(host, 5);
        environment.Clock.Advance(IntoWindow);

        var small = await sweeper.PlanAsync(CancellationToken.None);

        Assert.Equal((5, 0, 0), (small.InProcess?.Refreshed, small.Items, await CountAsync(queueName)));
        Assert.Equal(5, server.Statistics.SuccessfulRefreshes);

        // Ten more, and the first five due again: above the threshold, into items of four.
        await SignInAsync(host, 10);
        environment.Clock.Advance(IntoWindow);
        var large = await sweeper.PlanAsync(CancellationToken.None);

        Assert.Null(large.InProcess);
        Assert.Equal((15, 4, 0), (large.Planned, large.Items, large.Backlog));
        Assert.Equal(4, await CountAsync(queueName));
        Assert.Equal(5, server.Statistics.SuccessfulRefreshes);

        // Planned again while the items are still queued: every due row again (the index is the truth), backlog reported.
        var again = await sweeper.PlanAsync(CancellationToken.None);
        Assert.Equal((15, 4, 4), (again.Planned, again.Items, again.Backlog));
    }

    private Task<TestHost> StartHostAsync(ProviderTap tap) =>
        environment.StartHostAsync(builder =>
        {
            builder.Services.AddHttpClient(OAuthClient.HttpClientName).AddHttpMessageHandler(() => new TapHandler(tap));

            // Thousands of sessions: the per-session debug lines would cost more than the work they describe.
            builder.Logging.SetMinimumLevel(LogLevel.Information);
        });

    /// <summary>
    /// Signs users in at the OAuth server (code + PKCE) and registers their sessions through the API the function classes
    /// call, not through HTTP: thousands of sessions are the set-up here, not what is tested (the HTTP contract has its own tests).
    /// </summary>
    private async Task SignInAsync(TestHost host, int count)
    {
        var api = host.Services.GetRequiredService<FunctionsAuth.Api.IAuthApi>();
        var subjects = Enumerable.Range(0, count).Select(i => $"user-{Guid.NewGuid():N}-{i}");
        await Parallel.ForEachAsync(subjects, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (subject, ct) =>
        {
            var code = await server.AuthorizeAsync(TestEnvironment.DemoClient.ClientId, TestEnvironment.DemoRedirectUri, "openid offline_access api", subject, ct);
            var body = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string>
            {
                ["provider"] = TestEnvironment.DemoProvider,
                ["code"] = code.Code,
                ["code_verifier"] = code.CodeVerifier,
                ["redirect_uri"] = code.RedirectUri.AbsoluteUri,
            });
            using var stream = new MemoryStream(body);
            Assert.Equal(201, (await api.CreateSessionAsync(stream, FunctionsAuth.Callers.CallerCredentials.None, ct)).Status);
        });
    }

    /// <summary>
    /// As a process dies: the queue listener stops at once (its running messages are not waited for, so they stay
    /// invisible until their lease runs out), and the provider calls it had in hand never arrive (the tap is frozen).
    /// </summary>
    private static async Task KillAsync(TestHost host)
    {
        var listener = host.Services.GetServices<IHostedService>().OfType<QueueTriggerHost>().Single();
        await listener.StopAsync(new CancellationToken(canceled: true));
    }

    private async Task<int> CountAsync(string queue)
    {
        var client = (await Azurite.CreateQueueServiceClientAsync()).GetQueueClient(queue);
        return await client.ExistsAsync() ? (await client.GetPropertiesAsync()).Value.ApproximateMessagesCount : 0;
    }

    private async Task<int> CountRowsAsync(long generation)
    {
        var count = 0;
        await foreach (var _ in (await environment.SessionsTableAsync()).QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"Generation eq {generation}"), select: ["PartitionKey"]))
        {
            count++;
        }

        return count;
    }

    private static string Between(string text, string start, string end)
    {
        var from = text.IndexOf(start, StringComparison.Ordinal) + start.Length;
        return text[from..text.IndexOf(end, from, StringComparison.Ordinal)];
    }

    /// <summary>What one host sends to the provider's token endpoint: when (as it leaves), and how many; frozen, nothing more leaves.</summary>
    private sealed class ProviderTap
    {
        private readonly ConcurrentQueue<long> sent = new();
        private readonly TaskCompletionSource released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private volatile bool frozen;

        public int Requests => sent.Count;

        public bool Frozen => frozen;

        public Task Released => released.Task;

        public void Record() => sent.Enqueue(Stopwatch.GetTimestamp());

        public void Clear() => sent.Clear();

        public void Freeze() => frozen = true;

        public void Release() => released.TrySetResult();

        /// <summary>The most requests of all taps together within any one second.</summary>
        public static int BusiestSecond(IEnumerable<ProviderTap> taps)
        {
            var times = taps.SelectMany(t => t.sent).Order().ToArray();
            var busiest = 0;
            var start = 0;
            for (var end = 0; end < times.Length; end++)
            {
                while (Stopwatch.GetElapsedTime(times[start], times[end]) >= TimeSpan.FromSeconds(1))
                {
                    start++;
                }

                busiest = Math.Max(busiest, end - start + 1);
            }

            return busiest;
        }
    }

    private sealed class TapHandler(ProviderTap tap) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (tap.Frozen)
            {
                // A dead process sends nothing; released after the test, as a refused connection.
                await tap.Released;
                throw new HttpRequestException("The host was killed.");
            }

            tap.Record();
            return await base.SendAsync(request, cancellationToken);
        }
    }
}
