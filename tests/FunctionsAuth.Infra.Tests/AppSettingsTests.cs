using Microsoft.Extensions.Configuration;
using FunctionsAuth.Configuration;
using FunctionsAuth.Infra.Tests.Framework;
using Xunit;

namespace FunctionsAuth.Infra.Tests;

[Collection(InfraCollection.Name)]
public sealed class AppSettingsTests(InfraFixture infra)
{
    [Fact]
    public void AppSettings_SetEveryOptionTheCodeRequires()
    {
        var required = RequiredSettings.All();
        var settings = infra.Example.AppSettings;

        Assert.Contains(required, s => s.RequiredInAzure);
        var missing = required.Where(s => string.IsNullOrWhiteSpace(settings.GetValueOrDefault(s.Name))).Select(s => s.Name);
        Assert.Empty(missing);
    }

    [Fact]
    public void AppSettings_LiteralValuesPassTheOptionsValidation()
    {
        var settings = infra.Example.AppSettings;
        var invalid = RequiredSettings.All()
            .Where(s => settings.TryGetValue(s.Name, out var value) && !value.StartsWith('['))
            .SelectMany(s => s.Validate(settings[s.Name]).Select(error => $"{s.Name}: {error}"));

        Assert.Empty(invalid);
    }

    [Fact]
    public void AppSettings_UnderTheSection_AllBindToAnOptionsProperty()
    {
        var unbound = infra.Example.AppSettings.Keys
            .Where(name => name.StartsWith(FunctionsAuthOptions.SectionName + RequiredSettings.Separator, StringComparison.Ordinal))
            .Where(name => RequiredSettings.Bind(name) is null);

        Assert.Empty(unbound);
    }

    [Fact]
    public void AppSettings_ExpandEveryProviderOfTheParameters()
    {
        var providers = infra.ExampleParameters.At("parameters.providers.value")!.Value.EnumerateArray().ToList();
        var settings = infra.Example.AppSettings;

        Assert.NotEmpty(providers);
        foreach (var provider in providers)
        {
            var prefix = $"{FunctionsAuthOptions.SectionName}__{nameof(FunctionsAuthOptions.Providers)}__{provider.GetProperty("name").GetString()}__";
            foreach (var field in provider.EnumerateObject().Where(f => f.Name != "name"))
            {
                var property = typeof(ProviderOptions).GetProperty(field.Name, System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.IgnoreCase);
                Assert.True(property is not null, $"Provider field {field.Name} matches no {nameof(ProviderOptions)} property");
                Assert.Equal(field.Value.GetString(), settings.GetValueOrDefault(prefix + property.Name));
            }

            Assert.All(RequiredSettings.ProviderProperties(), p => Assert.False(string.IsNullOrEmpty(settings.GetValueOrDefault(prefix + p.Name)), prefix + p.Name));
            Assert.True(Enum.TryParse<ProviderKind>(settings[prefix + nameof(ProviderOptions.Kind)], out _));
        }
    }

    [Fact]
    public void AppSettings_ClientAuthenticationAndSignOutFields_AreSetOnlyWhereGiven()
    {
        var settings = infra.WithOptionalFeatures.AppSettings;
        const string Corp = "FunctionsAuth__Providers__corp__";

        Assert.Equal("PrivateKeyJwt", settings[Corp + nameof(ProviderOptions.ClientAuthentication)]);
        Assert.Equal("corp-client-certificate", settings[Corp + nameof(ProviderOptions.ClientCertificateName)]);
        Assert.Equal("Rfc7523bis", settings[Corp + nameof(ProviderOptions.ClientAssertionFormat)]);
        Assert.Equal("OnRequest", settings[Corp + nameof(ProviderOptions.SignOutRevocation)]);
        Assert.False(settings.ContainsKey(Corp + nameof(ProviderOptions.ClientSecretName)));
        Assert.False(settings.ContainsKey("FunctionsAuth__Providers__google__" + nameof(ProviderOptions.ClientAuthentication)));
    }

    [Fact]
    public void AppSettings_IdlePolicyCloudAndScopeFields_ReachTheApp_AsItsBinderReadsThem()
    {
        var settings = infra.WithOptionalFeatures.AppSettings;
        const string Corp = "FunctionsAuth__Providers__corp__";
        const string Gov = "FunctionsAuth__Providers__gov__";

        Assert.Equal("00:30:00", settings[Corp + nameof(ProviderOptions.ActivityWindow)]);
        Assert.Equal("False", settings[Corp + nameof(ProviderOptions.KeepAlive)]);
        Assert.Equal("https://login.microsoftonline.us/", settings[Gov + nameof(ProviderOptions.Instance)]);
        Assert.Equal("api://AzureADTokenExchangeUSGov", settings[Gov + nameof(ProviderOptions.TokenExchangeAudience)]);
        Assert.False(settings.ContainsKey("FunctionsAuth__Providers__google__" + nameof(ProviderOptions.KeepAlive)));
        Assert.False(settings.ContainsKey("FunctionsAuth__Providers__google__" + nameof(ProviderOptions.ActivityWindow)));

        // As the app's configuration binder reads them (a bool from Bicep's string() is "False", a TimeSpan d.hh:mm:ss).
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Where(s => s.Key.StartsWith("FunctionsAuth__Providers__", StringComparison.Ordinal)).Select(s => KeyValuePair.Create(s.Key.Replace("__", ":", StringComparison.Ordinal), (string?)s.Value)))
            .Build();
        var corp = configuration.GetSection("FunctionsAuth:Providers:corp").Get<ProviderOptions>()!;
        var gov = configuration.GetSection("FunctionsAuth:Providers:gov").Get<ProviderOptions>()!;
        Assert.Equal(TimeSpan.FromMinutes(30), corp.ActivityWindow);
        Assert.False(corp.KeepAlive);
        Assert.Equal(new Uri("https://login.microsoftonline.us/"), gov.Instance);
        Assert.Equal(ClientAuthenticationMethod.ManagedIdentity, gov.ClientAuthentication);
        Assert.Equal("https://graph.microsoft.us/.default api://functionsauth/.default offline_access", gov.AllowedScopes);
        Assert.Equal("https://api.example.com/ https://reports.example.com/", corp.AllowedResources);
        Assert.False(settings.ContainsKey("FunctionsAuth__Providers__google__" + nameof(ProviderOptions.AllowedScopes)));
    }

    [Fact]
    public void HostStorage_ConnectsThroughTheAppIdentity()
    {
        var settings = infra.Example.AppSettings;
        var identity = Deployment.IdOf(infra.Example.Single("Microsoft.ManagedIdentity/userAssignedIdentities"));
        var account = Deployment.IdOf(infra.Example.Single("Microsoft.Storage/storageAccounts"));

        Assert.Equal("managedidentity", settings["AzureWebJobsStorage__credential"]);
        Assert.StartsWith($"[reference('{identity}',", settings["AzureWebJobsStorage__clientId"], StringComparison.Ordinal);
        Assert.EndsWith(").clientId]", settings["AzureWebJobsStorage__clientId"], StringComparison.Ordinal);
        Assert.StartsWith($"[reference('{account}',", settings["AzureWebJobsStorage__blobServiceUri"], StringComparison.Ordinal);
        Assert.DoesNotContain("AzureWebJobsStorage", settings.Keys);
        Assert.DoesNotContain(settings.Keys, name => name.StartsWith("AzureWebJobsStorage__", StringComparison.Ordinal) && name.EndsWith("ConnectionString", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void SweepQueue_ReachedThroughTheHostStorageConnection_WithTheInstanceCountAsTheRateDivisor()
    {
        var settings = infra.Example.AppSettings;
        var account = Deployment.IdOf(infra.Example.Single("Microsoft.Storage/storageAccounts"));

        // The queue trigger and the planner both read AzureWebJobsStorage: one queue service for both.
        Assert.StartsWith($"[reference('{account}',", settings["AzureWebJobsStorage__queueServiceUri"], StringComparison.Ordinal);
        Assert.EndsWith(".primaryEndpoints.queue]", settings["AzureWebJobsStorage__queueServiceUri"], StringComparison.Ordinal);
        Assert.Equal(infra.Example.FunctionApp.At("properties.functionAppConfig.scaleAndConcurrency.maximumInstanceCount")!.Value.GetRawText(), settings["FunctionsAuth__Sweeper__MaxInstances"]);
    }

    [Fact]
    public void DefaultAzureCredential_UsesTheAppIdentity()
    {
        var settings = infra.Example.AppSettings;

        Assert.Equal(settings["AzureWebJobsStorage__clientId"], settings["AZURE_CLIENT_ID"]);
    }
}
