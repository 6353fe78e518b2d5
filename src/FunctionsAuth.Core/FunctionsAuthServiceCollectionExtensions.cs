using Azure.Data.Tables;
using Azure.Identity;
using FunctionsAuth.Api;
using FunctionsAuth.Configuration;
using FunctionsAuth.Diagnostics;
using FunctionsAuth.OAuth;
using FunctionsAuth.Protection;
using FunctionsAuth.Secrets;
using FunctionsAuth.Sessions;
using FunctionsAuth.Storage;
using FunctionsAuth.Sweeping;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsAuth;

public static class FunctionsAuthServiceCollectionExtensions
{
    /// <summary>
    /// Everything behind the function classes, from the <c>FunctionsAuth</c> configuration section. Options are
    /// validated at start-up: a bad configuration stops the host with every problem listed.
    /// </summary>
    public static IServiceCollection AddFunctionsAuth(this IServiceCollection services)
    {
        services.AddOptions<FunctionsAuthOptions>()
            .BindConfiguration(FunctionsAuthOptions.SectionName)
            .Configure<IConfiguration>(static (options, configuration) =>
            {
                // The timer reads flat app settings (the Functions host resolves %SweeperSchedule%); validate those.
                options.Sweeper.Schedule = SweeperOptions.ResolveSchedule(configuration);
                options.Sweeper.TimerDisabled = SweeperOptions.IsTimerDisabled(configuration);
            })
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<FunctionsAuthOptions>, FunctionsAuthOptionsValidator>());

        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.TryAddSingleton<FunctionsAuthMetrics>();

        services.TryAddSingleton(static sp =>
        {
            var storage = sp.GetRequiredService<IOptions<FunctionsAuthOptions>>().Value.Storage;
            var clientOptions = TableClientOptionsForRequests();
            return storage.ConnectionString is { Length: > 0 } connectionString
                ? new TableServiceClient(connectionString, clientOptions)
                : new TableServiceClient(storage.TableServiceUri, new DefaultAzureCredential(), clientOptions);
        });
        services.TryAddSingleton<SessionStore>();

        services.AddFunctionsAuthSecrets();

        services.TryAddSingleton<CircuitBreaker>();
        services.TryAddSingleton<ProviderRegistry>();
        services.AddHttpClient(ProviderRegistry.DiscoveryClientName).RemoveAllLoggers();

        // Each call's own time-out applies (ProviderTimeout); the factory's default logging would record endpoints at Information.
        services.AddHttpClient(OAuthClient.HttpClientName, static client => client.Timeout = Timeout.InfiniteTimeSpan).RemoveAllLoggers();
        services.TryAddSingleton<OAuthClient>();

        services.TryAddSingleton<SessionCrypto>();
        services.TryAddSingleton<RefreshCoordinator>();
        services.TryAddSingleton<SessionService>();
        services.TryAddSingleton(static sp => new AuthApi(
            sp.GetRequiredService<SessionService>(),
            sp.GetRequiredService<RefreshCoordinator>(),
            sp.GetRequiredService<OAuthClient>(),
            sp.GetRequiredService<ProviderRegistry>(),
            sp.GetRequiredService<SessionStore>(),
            sp.GetRequiredService<TokenProtector>(),
            sp.GetRequiredService<FunctionsAuthMetrics>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<IOptions<FunctionsAuthOptions>>(),
            sp.GetRequiredService<ILogger<AuthApi>>()));

        services.TryAddSingleton(static sp => new Sweeper(
            sp.GetRequiredService<SessionStore>(),
            sp.GetRequiredService<SessionCrypto>(),
            sp.GetRequiredService<RefreshCoordinator>(),
            sp.GetRequiredService<OAuthClient>(),
            sp.GetRequiredService<TokenProtector>(),
            sp.GetRequiredService<FunctionsAuthMetrics>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<IOptions<FunctionsAuthOptions>>(),
            sp.GetRequiredService<ILogger<Sweeper>>()));

        services.AddHostedService<StartupTasks>();
        return services;
    }

    /// <summary>
    /// The SDK's defaults (a 100 s network time-out, 4 tries) would hold a request for minutes when storage hangs.
    /// Table operations take milliseconds: fail within seconds, so the caller gets 503 with Retry-After, and the one
    /// write that must not be lost (the rotated refresh token) is retried by the refresh coordinator under its lease.
    /// </summary>
    internal static TableClientOptions TableClientOptionsForRequests()
    {
        var options = new TableClientOptions();
        options.Retry.MaxRetries = 2;
        options.Retry.Delay = TimeSpan.FromMilliseconds(200);
        options.Retry.MaxDelay = TimeSpan.FromSeconds(2);
        options.Retry.NetworkTimeout = TimeSpan.FromSeconds(10);
        return options;
    }
}

/// <summary>
/// Before the first request: creates the tables (where the identity may), says where secrets come from and loads the
/// key ring, and warns about provider settings that work but lose sessions. Neither failure stops the host (a key kept
/// in configuration was already checked by options validation): /api/health reports it and requests fail clearly
/// until it is fixed.
/// </summary>
internal sealed partial class StartupTasks(
    SessionStore store,
    ISecretSource secrets,
    TokenProtector protector,
    IOptions<FunctionsAuthOptions> options,
    ILogger<StartupTasks> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        LogSecretSource(logger, secrets.Kind);
        foreach (var (name, provider) in options.Value.Providers)
        {
            if (provider.Kind == ProviderKind.Entra
                && !(provider.Scopes ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains("offline_access", StringComparer.OrdinalIgnoreCase))
            {
                OAuth.Log.EntraWithoutOfflineAccess(logger, name);
            }
        }

        try
        {
            await store.EnsureTablesAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogTablesUnavailable(logger, ex.GetType().Name);
        }

        try
        {
            await protector.CheckAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A key of the wrong shape was logged by name (secret and version) where the ring loads; the vault may also
            // be briefly unreachable: neither stops the host, and the ring is loaded again on the next request.
            LogKeyRingUnavailable(logger, ex.GetType().Name);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(4001, LogLevel.Error, "Table Storage could not be reached at start-up ({ExceptionType}); /api/health reports unhealthy until it answers.")]
    private static partial void LogTablesUnavailable(ILogger logger, string exceptionType);

    [LoggerMessage(4002, LogLevel.Information, "Secrets and the token-encryption key come from {SecretSource}.")]
    private static partial void LogSecretSource(ILogger logger, string secretSource);

    [LoggerMessage(4003, LogLevel.Error, "The token-encryption key could not be loaded at start-up ({ExceptionType}); /api/health reports unhealthy until it can.")]
    private static partial void LogKeyRingUnavailable(ILogger logger, string exceptionType);
}
