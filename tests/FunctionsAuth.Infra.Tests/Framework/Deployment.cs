using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit;

namespace FunctionsAuth.Infra.Tests.Framework;

/// <summary>
/// A <c>bicep snapshot</c> of main.bicep with one parameter file: every resource the deployment would create, modules
/// flattened, with every value the CLI can compute offline evaluated (runtime values such as an identity's client id stay
/// ARM expressions).
/// </summary>
internal sealed partial class Deployment(JsonElement snapshot)
{
    public const string SubscriptionId = "00000000-0000-0000-0000-00000000a001";
    public const string TenantId = "00000000-0000-0000-0000-00000000a002";
    public const string ResourceGroup = "rg-functionsauth-test";
    public const string Location = "swedencentral";

    public JsonElement Root { get; } = snapshot;

    public IReadOnlyList<JsonElement> Resources { get; } = [.. snapshot.GetProperty("predictedResources").EnumerateArray()];

    public JsonElement Outputs => Root.GetProperty("outputs");

    public IEnumerable<JsonElement> OfType(string type) =>
        Resources.Where(r => string.Equals(r.GetProperty("type").GetString(), type, StringComparison.OrdinalIgnoreCase));

    public JsonElement Single(string type) => Assert.Single(OfType(type));

    public JsonElement FunctionApp => Single("Microsoft.Web/sites");

    /// <summary>The function app's settings, name to value (a value may be an ARM expression: <c>[reference(...)]</c>).</summary>
    public IReadOnlyDictionary<string, string> AppSettings =>
        FunctionApp.At("properties.siteConfig.appSettings")!.Value.EnumerateArray()
            .ToDictionary(s => s.GetProperty("name").GetString()!, s => s.GetProperty("value").GetString() ?? "", StringComparer.Ordinal);

    public IReadOnlyList<RoleAssignment> RoleAssignments =>
        [.. OfType("Microsoft.Authorization/roleAssignments").Select(RoleAssignment.From)];

    public static string IdOf(JsonElement resource) => resource.GetProperty("id").GetString()!;
}

internal sealed partial record RoleAssignment(string Name, string Scope, string RoleDefinitionId, string PrincipalId)
{
    public static RoleAssignment From(JsonElement resource)
    {
        var id = resource.GetProperty("id").GetString()!;
        var scope = ExtensionScope().Match(id) is { Success: true } match
            ? match.Groups["scope"].Value
            : id[..id.IndexOf("/providers/Microsoft.Authorization/roleAssignments/", StringComparison.OrdinalIgnoreCase)];
        var roleDefinition = resource.String("properties.roleDefinitionId")!;
        return new RoleAssignment(
            resource.GetProperty("name").GetString()!,
            scope,
            roleDefinition[(roleDefinition.LastIndexOf('/') + 1)..],
            resource.String("properties.principalId")!);
    }

    [GeneratedRegex(@"^\[extensionResourceId\('(?<scope>[^']+)', 'Microsoft\.Authorization/roleAssignments'")]
    private static partial Regex ExtensionScope();
}
