using System.Text.Json;
using System.Text.RegularExpressions;
using FunctionsAuth.Configuration;
using FunctionsAuth.Infra.Tests.Framework;
using Xunit;

namespace FunctionsAuth.Infra.Tests;

/// <summary>No secret value is created by, passes through, or comes out of the deployment: secrets go into Key Vault by hand.</summary>
[Collection(InfraCollection.Name)]
public sealed partial class SecretTests(InfraFixture infra)
{
    private IEnumerable<string> EveryString =>
        infra.Template.AllStrings().Concat(infra.Example.Root.AllStrings()).Concat(infra.WithOptionalFeatures.Root.AllStrings());

    [Fact]
    public void Deployment_UsesNoKeysConnectionStringsOrListFunctions()
    {
        var offending = EveryString.Where(s => KeyMaterial().IsMatch(s)).ToList();

        Assert.Empty(offending);
    }

    [Fact]
    public void Template_TakesNoSecureParameters()
    {
        var secure = infra.Template.GetProperty("parameters").EnumerateObject()
            .Where(p => p.Value.String("type") is { } type && type.StartsWith("secure", StringComparison.OrdinalIgnoreCase))
            .Select(p => p.Name);

        Assert.Empty(secure);
    }

    [Fact]
    public void KeyVault_ReceivesNoSecretFromTheDeployment()
    {
        var secretResources = infra.Example.Resources.Concat(infra.WithOptionalFeatures.Resources)
            .Select(r => r.GetProperty("type").GetString()!)
            .Where(type => type.EndsWith("/secrets", StringComparison.OrdinalIgnoreCase));

        Assert.Empty(secretResources);
    }

    [Fact]
    public void AppSettings_NameSecretsButNeverHoldThem()
    {
        var settings = infra.Example.AppSettings;

        Assert.All(settings.Keys.Where(name => SecretLike().IsMatch(name)), name => Assert.EndsWith("SecretName", name, StringComparison.Ordinal));
        Assert.All(settings.Where(s => s.Key.EndsWith("SecretName", StringComparison.Ordinal)), s => Assert.Matches("^[0-9A-Za-z-]{1,127}$", s.Value));
        Assert.DoesNotContain(settings.Keys, name => name.StartsWith($"{FunctionsAuthOptions.SectionName}__{nameof(FunctionsAuthOptions.Secrets)}__", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain($"{FunctionsAuthOptions.SectionName}__{nameof(FunctionsAuthOptions.Storage)}__{nameof(StorageOptions.ConnectionString)}", settings.Keys);
    }

    [Fact]
    public void Outputs_ExposeNoSecretOrConnectionString()
    {
        var outputs = Outputs(infra.Template).ToList();

        Assert.NotEmpty(outputs);
        Assert.All(outputs, output =>
        {
            Assert.DoesNotMatch(SecretLike(), output.Name);
            Assert.False(output.Value.String("type")?.StartsWith("secure", StringComparison.OrdinalIgnoreCase), output.Name);
            Assert.DoesNotContain(output.Value.AllStrings(), s => s.Contains("ConnectionString", StringComparison.OrdinalIgnoreCase) || s.Contains("InstrumentationKey", StringComparison.OrdinalIgnoreCase));
        });
    }

    /// <summary>Outputs of the template and of every module in it (module outputs are kept in the deployment history too).</summary>
    private static IEnumerable<JsonProperty> Outputs(JsonElement element)
    {
        if (element.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in element.EnumerateObject())
            {
                if (property.Name == "outputs" && property.Value.ValueKind == JsonValueKind.Object)
                {
                    foreach (var output in property.Value.EnumerateObject())
                    {
                        yield return output;
                    }
                }
                else
                {
                    foreach (var nested in Outputs(property.Value))
                    {
                        yield return nested;
                    }
                }
            }
        }
        else if (element.ValueKind == JsonValueKind.Array)
        {
            foreach (var nested in element.EnumerateArray().SelectMany(Outputs))
            {
                yield return nested;
            }
        }
    }

    [GeneratedRegex(@"AccountKey|DefaultEndpointsProtocol|SharedAccessSignature|\blist[A-Za-z]*\(|@Microsoft\.KeyVault\(", RegexOptions.IgnoreCase)]
    private static partial Regex KeyMaterial();

    [GeneratedRegex("secret|password|accountkey|apikey|token|connectionstring", RegexOptions.IgnoreCase)]
    private static partial Regex SecretLike();
}
