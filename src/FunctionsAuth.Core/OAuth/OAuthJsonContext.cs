using System.Text.Json.Serialization;

namespace FunctionsAuth.OAuth;

[JsonSerializable(typeof(DiscoveryDocument))]
internal sealed partial class OAuthJsonContext : JsonSerializerContext;
