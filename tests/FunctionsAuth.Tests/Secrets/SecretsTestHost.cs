using FunctionsAuth.Configuration;
using FunctionsAuth.Secrets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace FunctionsAuth.Tests.Secrets;

/// <summary>
/// The services as the composition root wires them (options bound from the <c>FunctionsAuth</c> section, then
/// <c>AddFunctionsAuthSecrets</c>), on in-memory configuration, a fake clock and, when given, a <see cref="FakeKeyVault"/>.
/// </summary>
internal sealed class SecretsTestHost : IDisposable
{
    private SecretsTestHost(ServiceProvider services, IConfigurationRoot configuration, FakeTimeProvider time)
    {
        Services = services;
        Configuration = configuration;
        Time = time;
    }

    public static DateTimeOffset Start { get; } = new(2025, 11, 20, 9, 0, 0, TimeSpan.Zero);

    public ServiceProvider Services { get; }

    public IConfigurationRoot Configuration { get; }

    public FakeTimeProvider Time { get; }

    public FakeLogCollector Logs => Services.GetFakeLogCollector();

    public static SecretsTestHost Create(IEnumerable<KeyValuePair<string, string?>> settings, FakeKeyVault? vault = null)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        if (vault is not null)
        {
            configuration["FunctionsAuth:KeyVaultUri"] = vault.VaultUri.ToString();
        }

        var time = new FakeTimeProvider(Start);
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging(logging => logging.AddFakeLogging().SetMinimumLevel(LogLevel.Trace));
        services.AddSingleton<TimeProvider>(time);
        services.AddOptions<FunctionsAuthOptions>().BindConfiguration(FunctionsAuthOptions.SectionName);
        services.AddFunctionsAuthSecrets();
        if (vault is not null)
        {
            services.AddSingleton(vault.CreateClient());
        }

        return new SecretsTestHost(services.BuildServiceProvider(validateScopes: true), configuration, time);
    }

    public T Get<T>() where T : notnull => Services.GetRequiredService<T>();

    /// <summary>Changes a setting the way a configuration reload would (options monitors see it).</summary>
    public void Set(string key, string? value)
    {
        Configuration[key] = value;
        Configuration.Reload();
    }

    public void Dispose() => Services.Dispose();

    /// <summary>For work the code under test does in the background (shared loads, ring refreshes).</summary>
    public static Task WaitUntilAsync(Func<bool> condition) => WaitUntilAsync(() => ValueTask.FromResult(condition()));

    public static async Task WaitUntilAsync(Func<ValueTask<bool>> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!await condition())
        {
            await Task.Delay(5, timeout.Token);
        }
    }
}
