using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Azure.Data.Tables;
using Azure.Storage.Queues;

namespace FunctionsAuth.Tests.Infrastructure;

/// <summary>
/// The Azurite Table and Queue Storage emulators, one of each per test process: in memory, on loopback, on a free port. Installed
/// with npm (package.json at the repository root) when missing. <c>FUNCTIONSAUTH_TEST_STORAGE</c> (a connection
/// string) points the tests at an emulator or account that is already running instead.
/// </summary>
public static class Azurite
{
    private const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private static readonly Lazy<Task<string>> ConnectionStringTask = new(StartAsync);

    public static Task<string> GetConnectionStringAsync() => ConnectionStringTask.Value;

    /// <summary>A table-name-safe unique prefix, so tests never see each other's rows.</summary>
    public static string UniqueName(string prefix) => prefix + Guid.NewGuid().ToString("N")[..12];

    public static async Task<TableServiceClient> CreateServiceClientAsync() => new(await GetConnectionStringAsync());

    /// <summary>Azurite's queue service; base64 messages, as the Functions host (and the local host) read them by default.</summary>
    public static async Task<QueueServiceClient> CreateQueueServiceClientAsync() =>
        new(await GetConnectionStringAsync(), new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 });

    private static async Task<string> StartAsync()
    {
        if (Environment.GetEnvironmentVariable("FUNCTIONSAUTH_TEST_STORAGE") is { Length: > 0 } configured)
        {
            return configured;
        }

        var root = RepositoryRoot.Find();
        var azurite = Path.Combine(root, "node_modules", ".bin", "azurite-table");
        if (!File.Exists(azurite))
        {
            await RunAsync("npm", "ci --no-audit --no-fund", root, TimeSpan.FromMinutes(5));
        }

        var workspace = Directory.CreateTempSubdirectory("azurite-").FullName;
        var table = StartServiceAsync(root, workspace, "table");
        var queue = StartServiceAsync(root, workspace, "queue");
        var (tablePort, queuePort) = (await table, await queue);
        return $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AccountKey};TableEndpoint=http://127.0.0.1:{tablePort}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{queuePort}/devstoreaccount1;";
    }

    /// <summary>Starts one Azurite service (<c>azurite-table</c> or <c>azurite-queue</c>) on a free port and waits until it accepts connections.</summary>
    private static async Task<int> StartServiceAsync(string root, string workspace, string service)
    {
        var port = FreePort();
        var executable = Path.Combine(root, "node_modules", ".bin", "azurite-" + service);
        var process = Process.Start(new ProcessStartInfo(executable)
        {
            ArgumentList = { "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", $"--{service}Host", "127.0.0.1", $"--{service}Port", port.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            WorkingDirectory = workspace,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException($"Azurite ({service}) did not start.");
        process.OutputDataReceived += static (_, _) => { };
        var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                errors.Enqueue(e.Data);
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }
        };

        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"Azurite ({service}) exited with code {process.ExitCode}: {string.Join(' ', errors)}");
            }

            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                break;
            }
            catch (SocketException) when (deadline.Elapsed < TimeSpan.FromSeconds(60))
            {
                await Task.Delay(100);
            }
        }

        return port;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task RunAsync(string file, string arguments, string workingDirectory, TimeSpan timeout)
    {
        using var process = Process.Start(new ProcessStartInfo(file, arguments) { WorkingDirectory = workingDirectory, UseShellExecute = false })
            ?? throw new InvalidOperationException($"{file} did not start.");
        using var cts = new CancellationTokenSource(timeout);
        await process.WaitForExitAsync(cts.Token);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"'{file} {arguments}' failed with exit code {process.ExitCode}.");
        }
    }
}

public static class RepositoryRoot
{
    public static string Find()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "FunctionsAuth.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("Run the tests from inside the repository (FunctionsAuth.sln not found above the test output).");
    }
}
