using Azure.Data.Tables;
using Azure.Identity;
using FunctionsAuth.Api;
using FunctionsAuth.Configuration;
using FunctionsAuth.Diagnostics;
using FunctionsAuth.Events;
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
                options.Events.QueueName = EventsOptions.ResolveQueueName(configuration);

                // X-MS-CLIENT-PRINCIPAL is evidence only where the platform sets it (App Service Authentication strips
                // copies sent by clients) or where the local host was told to pass it on; nowhere else.
                options.Callers.ClientPrincipalHeaderTrusted =
                    string.Equals(configuration["WEBSITE_AUTH_ENABLED"], "true", StringComparison.OrdinalIgnoreCase)
                    || string.Equals(configuration["LocalHost:TrustClientPrincipalHeader"], "true", StringComparison.OrdinalIgnoreCase);
                options.Sweeper.QueueName = SweeperOptions.ResolveQueueName(configuration);
                options.Sweeper.QueueConfigured = SweepQueue.IsConfiguredIn(configuration);
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

        services.TryAddSingleton<ProviderResilience>();
        services.TryAddSingleton<ProviderRegistry>();
        services.AddHttpClient(ProviderRegistry.DiscoveryClientName)
            .ConfigurePrimaryHttpMessageHandler(NoRedirects)
            .RemoveAllLoggers();

        // Each call's own time-out applies (ProviderTimeout); the factory's default logging would record endpoints at Information.
        services.AddHttpClient(OAuthClient.HttpClientName, static client => client.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(NoRedirects)
            .RemoveAllLoggers();
        services.TryAddKeyedSingleton(ClientAuthenticator.ManagedIdentityCredentialKey, static (sp, _) =>
            ClientAuthenticator.CreateManagedIdentityCredential(sp.GetRequiredService<IConfiguration>()["AZURE_CLIENT_ID"]));
        services.TryAddSingleton<ClientAuthenticator>();
        services.TryAddSingleton<OAuthClient>();

        services.TryAddSingleton<SessionCrypto>();
        services.TryAddSingleton<RefreshCoordinator>();
        services.TryAddSingleton<SessionService>();
        services.TryAddSingleton<RegistrationLimiter>();
        services.TryAddSingleton<FunctionsAuth.Callers.CallerResolver>();
        services.TryAddSingleton<IAuthApi, AuthApi>();
        services.TryAddSingleton<ReEncryptionScan>();
        services.TryAddSingleton<Sweeper>();
        services.TryAddSingleton<ISweeper>(static sp => sp.GetRequiredService<Sweeper>());
        services.TryAddSingleton<ISweepWorker>(static sp => sp.GetRequiredService<Sweeper>());
        services.TryAddSingleton<SweepQueue>();
        services.TryAddSingleton<ProviderRateLimits>();

        services.TryAddSingleton<EventsQueue>();
        services.TryAddSingleton<SessionEventPublisher>();
        services.TryAddSingleton<ISessionEvents>(static sp => sp.GetRequiredService<SessionEventPublisher>());
        services.AddHttpClient(EventWebhook.HttpClientName, static client => client.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(NoRedirects)
            .RemoveAllLoggers();
        services.TryAddSingleton<IEventWebhook, EventWebhook>();

        services.AddHostedService<StartupTasks>();
        services.AddHostedService(static sp => sp.GetRequiredService<SessionEventPublisher>());
        return services;
    }

    /// <summary>
    /// Provider calls never follow a redirect: a 307/308 from a token or revocation endpoint would re-send the form, with
    /// the refresh token and a <c>client_secret_post</c> secret, to wherever the redirect points; a redirected discovery
    /// document could name another token endpoint. A redirect is answered as the misconfiguration it is.
    /// </summary>
    private static SocketsHttpHandler NoRedirects() => new() { AllowAutoRedirect = false };

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
    TimeProvider time,
    IOptions<FunctionsAuthOptions> options,
    ILogger<StartupTasks> logger) : IHostedService
{
    private static readonly TimeSpan MaxTableRetryDelay = TimeSpan.FromSeconds(30);

    private readonly CancellationTokenSource stopping = new();
    private Task tablesRetry = Task.CompletedTask;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        LogSecretSource(logger, secrets.Kind);
        foreach (var (name, provider) in options.Value.Providers)
        {
            if (provider.Kind == ProviderKind.Entra
                && !OAuthClient.HasOfflineAccess(provider.Scopes ?? ""))
            {
                OAuth.Log.EntraWithoutOfflineAccess(logger, name);
            }
        }

        try
        {
            await store.EnsureTablesAsync(cancellationToken);
        }
        catch (StorageUnavailableException ex)
        {
            // Storage may come up after us (an emulator starting, a private endpoint's DNS settling): keep trying in
            // the background; requests answer 503 temporarily_unavailable until the tables exist.
            LogTablesUnavailable(logger, ex.Failure);
            tablesRetry = CreateTablesWhenStorageAnswersAsync(stopping.Token);
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

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await stopping.CancelAsync();
        await tablesRetry;
        stopping.Dispose();
    }

    private async Task CreateTablesWhenStorageAnswersAsync(CancellationToken cancellationToken)
    {
        var delay = TimeSpan.FromSeconds(1);
        for (var attempt = 2; !cancellationToken.IsCancellationRequested; attempt++)
        {
            try
            {
                await Task.Delay(delay, time, cancellationToken);
                await store.EnsureTablesAsync(cancellationToken);
                LogTablesCreated(logger, attempt);
                return;
            }
            catch (StorageUnavailableException)
            {
                delay = delay * 2 > MaxTableRetryDelay ? MaxTableRetryDelay : delay * 2;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    [LoggerMessage(4001, LogLevel.Error, "Table Storage could not be reached at start-up ({Failure}); retrying in the background, and requests answer 503 until it answers.")]
    private static partial void LogTablesUnavailable(ILogger logger, string failure);

    [LoggerMessage(4004, LogLevel.Information, "Table Storage answered: tables ready (attempt {Attempt}).")]
    private static partial void LogTablesCreated(ILogger logger, int attempt);

    [LoggerMessage(4002, LogLevel.Information, "Secrets and the token-encryption key come from {SecretSource}.")]
    private static partial void LogSecretSource(ILogger logger, string secretSource);

    [LoggerMessage(4003, LogLevel.Error, "The token-encryption key could not be loaded at start-up ({ExceptionType}); /api/health reports unhealthy until it can.")]
    private static partial void LogKeyRingUnavailable(ILogger logger, string exceptionType);
}
