using System.Text.Json;
using Xunit;

namespace FunctionsAuth.Infra.Tests.Framework;

/// <summary>
/// Runs the Bicep CLI once for all tests: lint, <c>build --stdout</c> (the ARM JSON), <c>build-params</c> (the example
/// parameters) and <c>snapshot</c>s: the resources a deployment would create with the example parameters, with every
/// optional feature switched on, and as a first trial (public access, no Entra ID); and the parameter files the template
/// must refuse.
/// </summary>
public sealed class InfraFixture : IAsyncLifetime
{
    /// <summary>Every optional setting given: CORS origins, the Entra ID settings and the deployer's Key Vault role.</summary>
    public static class Optional
    {
        public const string ApiClientId = "22222222-2222-2222-2222-222222222222";
        public const string DeployerPrincipalId = "55555555-5555-5555-5555-555555555555";
        public static readonly string[] AllowedClientApplications = ["33333333-3333-3333-3333-333333333333", "44444444-4444-4444-4444-444444444444"];
        public static readonly string[] CorsAllowedOrigins = ["https://one.example", "https://two.example"];
        public const string EventsWebhookUrl = "https://hooks.example/functionsauth";

        public static readonly string Parameters = $$"""
            using 'main.bicep'

            param environmentName = 'optional'
            param providers = [
              {
                name: 'google'
                kind: 'Google'
                clientId: 'test-client'
                clientSecretName: 'google-client-secret'
              }
              {
                name: 'corp'
                kind: 'Oidc'
                issuer: 'https://login.example.com/'
                clientId: 'functionsauth'
                clientAuthentication: 'PrivateKeyJwt'
                clientCertificateName: 'corp-client-certificate'
                clientAssertionFormat: 'Rfc7523bis'
                signOutRevocation: 'OnRequest'
                activityWindow: '00:30:00'
                keepAlive: false
                allowedResources: 'https://api.example.com/ https://reports.example.com/'
              }
              {
                name: 'gov'
                kind: 'Entra'
                tenantId: 'contoso.onmicrosoft.us'
                instance: 'https://login.microsoftonline.us/'
                clientId: '66666666-6666-6666-6666-666666666666'
                scopes: 'api://functionsauth/.default offline_access'
                allowedScopes: 'https://graph.microsoft.us/.default api://functionsauth/.default offline_access'
                clientAuthentication: 'ManagedIdentity'
                tokenExchangeAudience: 'api://AzureADTokenExchangeUSGov'
              }
            ]
            param corsAllowedOrigins = ['{{CorsAllowedOrigins[0]}}', '{{CorsAllowedOrigins[1]}}']
            param entraAuthEnabled = true
            param entraAuthClientId = '{{ApiClientId}}'
            param entraAuthAllowedClientApplications = ['{{AllowedClientApplications[0]}}', '{{AllowedClientApplications[1]}}']
            param deployerPrincipalId = '{{DeployerPrincipalId}}'
            param deployerPrincipalType = 'Group'
            param eventsWebhookUrl = '{{EventsWebhookUrl}}'
            """;
    }

    /// <summary>A first trial: Entra ID authentication off and Storage and Key Vault open to the internet.</summary>
    public static class Trial
    {
        public static readonly string Parameters = """
            using 'main.bicep'

            param environmentName = 'trial'
            param providers = [
              {
                name: 'google'
                kind: 'Google'
                clientId: 'test-client'
              }
            ]
            param entraAuthEnabled = false
            param allowPublicNetworkAccess = true
            """;
    }

    /// <summary>Entra ID authentication left on (the default) without the settings it needs: each must stop the deployment.</summary>
    public static class Refused
    {
        public static readonly IReadOnlyDictionary<string, string> Parameters = new Dictionary<string, string>
        {
            ["no-allowed-clients"] = $$"""
                using 'main.bicep'

                param environmentName = 'refused'
                param providers = [{ name: 'google', kind: 'Google', clientId: 'test-client' }]
                param entraAuthClientId = '{{Optional.ApiClientId}}'
                """,
            ["no-api-client-id"] = $$"""
                using 'main.bicep'

                param environmentName = 'refused'
                param providers = [{ name: 'google', kind: 'Google', clientId: 'test-client' }]
                param entraAuthAllowedClientApplications = ['{{Optional.AllowedClientApplications[0]}}']
                """,
        };
    }

    private string? _workDirectory;

    public static string RepositoryRoot { get; } = BicepCli.Metadata("RepositoryRoot");

    public static string InfraDirectory { get; } = Path.Combine(RepositoryRoot, "infra");

    internal BicepResult Version { get; private set; } = null!;

    internal BicepResult TemplateLint { get; private set; } = null!;

    internal BicepResult ParametersLint { get; private set; } = null!;

    internal BicepResult Build { get; private set; } = null!;

    /// <summary>main.bicep compiled to an ARM template (what <c>az deployment group create</c> sends).</summary>
    public JsonElement Template { get; private set; }

    /// <summary>main.bicepparam compiled to a parameters file.</summary>
    public JsonElement ExampleParameters { get; private set; }

    internal Deployment Example { get; private set; } = null!;

    internal Deployment WithOptionalFeatures { get; private set; } = null!;

    internal Deployment FirstTrial { get; private set; } = null!;

    /// <summary><c>bicep snapshot</c> of each <see cref="Refused"/> parameter file, by name.</summary>
    internal IReadOnlyDictionary<string, BicepResult> RefusedSnapshots { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var bicep = BicepCli.Locate();

        // snapshot writes <name>.snapshot.json beside the parameter file: work on a copy, never in the repository.
        _workDirectory = Directory.CreateTempSubdirectory("functionsauth-infra-").FullName;
        CopyDirectory(InfraDirectory, _workDirectory);
        await File.WriteAllTextAsync(Path.Combine(_workDirectory, "optional.bicepparam"), Optional.Parameters);
        await File.WriteAllTextAsync(Path.Combine(_workDirectory, "trial.bicepparam"), Trial.Parameters);
        foreach (var (name, refusedParameters) in Refused.Parameters)
        {
            await File.WriteAllTextAsync(Path.Combine(_workDirectory, $"{name}.bicepparam"), refusedParameters);
        }

        var version = bicep.RunAsync(InfraDirectory, "--version");
        var templateLint = bicep.RunAsync(InfraDirectory, "lint", "main.bicep");
        var parametersLint = bicep.RunAsync(InfraDirectory, "lint", "main.bicepparam");
        var build = bicep.RunAsync(InfraDirectory, "build", "main.bicep", "--stdout");
        var parameters = bicep.RunAsync(InfraDirectory, "build-params", "main.bicepparam", "--stdout");
        var example = SnapshotAsync(bicep, "main");
        var optional = SnapshotAsync(bicep, "optional");
        var trial = SnapshotAsync(bicep, "trial");
        var refused = Refused.Parameters.Keys.Select(async name => (name, result: await RunSnapshotAsync(bicep, name))).ToList();

        Version = await version;
        TemplateLint = await templateLint;
        ParametersLint = await parametersLint;
        Build = await build;
        Template = Parse(Build, "bicep build main.bicep");
        ExampleParameters = JsonDocument.Parse(Parse(await parameters, "bicep build-params main.bicepparam").GetProperty("parametersJson").GetString()!).RootElement;
        Example = await example;
        WithOptionalFeatures = await optional;
        FirstTrial = await trial;
        RefusedSnapshots = (await Task.WhenAll(refused)).ToDictionary(r => r.name, r => r.result);
    }

    public Task DisposeAsync()
    {
        if (_workDirectory is not null)
        {
            Directory.Delete(_workDirectory, recursive: true);
        }

        return Task.CompletedTask;
    }

    private async Task<Deployment> SnapshotAsync(BicepCli bicep, string parametersName)
    {
        var result = await RunSnapshotAsync(bicep, parametersName);
        Assert.True(result.ExitCode == 0, $"bicep snapshot {parametersName}.bicepparam failed:\n{result.Diagnostics}");
        var text = await File.ReadAllTextAsync(Path.Combine(_workDirectory!, $"{parametersName}.snapshot.json"));
        return new Deployment(JsonDocument.Parse(text).RootElement.Clone());
    }

    private Task<BicepResult> RunSnapshotAsync(BicepCli bicep, string parametersName) =>
        bicep.RunAsync(
            _workDirectory!,
            "snapshot", $"{parametersName}.bicepparam",
            "--mode", "overwrite",
            "--subscription-id", Deployment.SubscriptionId,
            "--tenant-id", Deployment.TenantId,
            "--resource-group", Deployment.ResourceGroup,
            "--location", Deployment.Location);

    private static JsonElement Parse(BicepResult result, string what)
    {
        Assert.True(result.ExitCode == 0, $"{what} failed:\n{result.Diagnostics}");
        return JsonDocument.Parse(result.StandardOutput).RootElement.Clone();
    }

    private static void CopyDirectory(string source, string target)
    {
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var destination = Path.Combine(target, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            File.Copy(file, destination);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class InfraCollection : ICollectionFixture<InfraFixture>
{
    public const string Name = "infra";
}
