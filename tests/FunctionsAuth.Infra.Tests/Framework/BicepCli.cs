using System.Diagnostics;
using System.Reflection;

namespace FunctionsAuth.Infra.Tests.Framework;

internal sealed record BicepResult(int ExitCode, string StandardOutput, string StandardError)
{
    public string Diagnostics => (StandardOutput + StandardError).Trim();
}

/// <summary>The Bicep CLI restored from NuGet (PackageDownload in the project file).</summary>
internal sealed class BicepCli
{
    // main.bicepparam reads these (azd sets them); the tests must not depend on the caller's shell.
    private static readonly string[] AzdVariables = ["AZURE_ENV_NAME", "AZURE_LOCATION", "AZURE_PRINCIPAL_ID", "FUNCTIONSAUTH_API_CLIENT_ID", "FUNCTIONSAUTH_ALLOWED_CLIENT_IDS"];

    private readonly string _path;

    private BicepCli(string path) => _path = path;

    public static BicepCli Locate()
    {
        var path = Metadata("BicepCli");
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Bicep CLI not found at {path}; restore the test project first.", path);
        }

        // NuGet does not always keep the executable bit of a file inside a package. (The package is the linux-x64 build.)
        if (OperatingSystem.IsLinux() && !File.GetUnixFileMode(path).HasFlag(UnixFileMode.UserExecute))
        {
            File.SetUnixFileMode(path, File.GetUnixFileMode(path) | UnixFileMode.UserExecute);
        }

        return new BicepCli(path);
    }

    public static string Metadata(string key) =>
        typeof(BicepCli).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value
        ?? throw new InvalidOperationException($"Assembly metadata {key} is empty.");

    public async Task<BicepResult> RunAsync(string workingDirectory, params string[] arguments)
    {
        var start = new ProcessStartInfo(_path)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var variable in AzdVariables)
        {
            start.Environment.Remove(variable);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the Bicep CLI.");
        var standardOutput = process.StandardOutput.ReadToEndAsync();
        var standardError = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        return new BicepResult(process.ExitCode, await standardOutput, await standardError);
    }
}
