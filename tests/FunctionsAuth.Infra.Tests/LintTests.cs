using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using FunctionsAuth.Infra.Tests.Framework;
using Xunit;

namespace FunctionsAuth.Infra.Tests;

[Collection(InfraCollection.Name)]
public sealed partial class LintTests(InfraFixture infra)
{
    [Fact]
    public void Template_LintsWithoutAnyDiagnostic()
    {
        Assert.True(infra.TemplateLint.ExitCode == 0, infra.TemplateLint.Diagnostics);
        Assert.Equal("", infra.TemplateLint.Diagnostics);
    }

    [Fact]
    public void ParameterFile_LintsWithoutAnyDiagnostic()
    {
        Assert.True(infra.ParametersLint.ExitCode == 0, infra.ParametersLint.Diagnostics);
        Assert.Equal("", infra.ParametersLint.Diagnostics);
    }

    [Fact]
    public void Build_ReportsNoWarnings() => Assert.Equal("", infra.Build.StandardError.Trim());

    [Fact]
    public void LinterConfig_MakesEveryEnabledRuleAnError()
    {
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(InfraFixture.InfraDirectory, "bicepconfig.json")));
        var core = config.RootElement.At("analyzers.core")!.Value;
        Assert.True(core.Bool("enabled"));
        var levels = core.GetProperty("rules").EnumerateObject().ToDictionary(r => r.Name, r => r.Value.String("level"));
        Assert.NotEmpty(levels);
        Assert.All(levels, rule => Assert.True(rule.Value is "error" or "off", $"{rule.Key} is at level {rule.Value}"));
    }

    [Fact]
    public void Modules_AreLocalFiles()
    {
        var bicepFiles = Directory.EnumerateFiles(InfraFixture.InfraDirectory, "*.bicep", SearchOption.AllDirectories).ToList();
        var references = bicepFiles
            .SelectMany(file => ModuleReference().Matches(File.ReadAllText(file)).Select(m => (file, path: m.Groups["path"].Value)))
            .ToList();

        Assert.NotEmpty(references);
        Assert.All(references, reference =>
        {
            Assert.DoesNotMatch("^(br|ts)[:/]", reference.path);
            Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(reference.file)!, reference.path)), $"{reference.path} is not a file");
        });
        Assert.DoesNotContain("templateLink", infra.Template.AllStrings());
    }

    [Fact]
    public void BicepCli_IsTheVersionPinnedInCentralPackages()
    {
        var props = XDocument.Load(Path.Combine(InfraFixture.RepositoryRoot, "Directory.Packages.props"));
        var pinned = props.Descendants("PackageVersion")
            .Single(p => (string?)p.Attribute("Include") == "Azure.Bicep.CommandLine.linux-x64")
            .Attribute("Version")!.Value;

        Assert.Contains($"Bicep CLI version {pinned} ", infra.Version.StandardOutput);
    }

    [GeneratedRegex(@"^\s*module\s+\w+\s+'(?<path>[^']+)'", RegexOptions.Multiline)]
    private static partial Regex ModuleReference();
}
