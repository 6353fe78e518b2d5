using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Json.Schema;
using YamlDotNet.RepresentationModel;

namespace FunctionsAuth.Tests.Infrastructure;

/// <summary>
/// <c>docs/openapi.yaml</c>, held against every answer the local host gives in the tests: the operation is found by
/// path and method, the answer's status must be one the operation lists, its JSON body must match that status's
/// schema (JSON Schema 2020-12, <c>$ref</c>s resolved against the document) and its required headers must be there
/// with values matching theirs. The code cannot drift from the description front ends are built from.
/// </summary>
public sealed partial class OpenApiContract
{
    private static readonly Uri DocumentUri = new("https://functionsauth.test/docs/openapi.yaml");
    private static readonly Lazy<OpenApiContract> FromRepository = new(() => Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "openapi.yaml"))));
    private static readonly string[] Methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

    private readonly JsonElement document;
    private readonly BuildOptions buildOptions;
    private readonly Dictionary<string, JsonSchema> schemas = new(StringComparer.Ordinal);
    private readonly Lock gate = new();

    private OpenApiContract(JsonElement document)
    {
        this.document = document;
        var registry = new SchemaRegistry();
        registry.Register(DocumentUri, new JsonElementBaseDocument(document, DocumentUri));
        // OpenAPI 3.1's default dialect is draft 2020-12 plus annotation-only keywords (example, discriminator, xml,
        // externalDocs); the library's draft 2020-12 dialect keeps unknown keywords as annotations, as that needs.
        buildOptions = new BuildOptions { SchemaRegistry = registry, Dialect = Dialect.Draft202012 };
    }

    /// <summary>The repository's <c>docs/openapi.yaml</c> (copied next to the test assembly by the build).</summary>
    public static OpenApiContract Repository => FromRepository.Value;

    /// <summary>The document as JSON (what the YAML denotes), for tests that look at the description itself.</summary>
    public JsonElement Document => document;

    public static OpenApiContract Parse(string yaml) => new(YamlToJson(yaml));

    /// <summary>A client for the local host at <paramref name="address"/> whose every answer is checked; no function key.</summary>
    public static HttpClient CreateClient(Uri address) => new(CreateHandler()) { BaseAddress = address, Timeout = TimeSpan.FromSeconds(100) };

    /// <summary>A handler that checks every answer against <paramref name="contract"/> (<see cref="Repository"/> by default) and fails the call that got one it does not allow.</summary>
    public static HttpMessageHandler CreateHandler(OpenApiContract? contract = null) => new CheckingHandler(contract ?? Repository) { InnerHandler = new SocketsHttpHandler() };

    /// <summary>Every way <paramref name="response"/> to <paramref name="method"/> <paramref name="path"/> differs from the description; empty when it matches.</summary>
    public async Task<IReadOnlyList<string>> CheckAsync(HttpMethod method, string path, HttpResponseMessage response, CancellationToken cancellationToken = default)
    {
        await response.Content.LoadIntoBufferAsync(cancellationToken);
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
        var status = (int)response.StatusCode;
        var problems = new List<string>();

        if (FindPathItem(path) is not { } pathItem)
        {
            // Outside the contract: routing answers before any function runs when no route matches.
            if (status != (int)HttpStatusCode.NotFound)
            {
                problems.Add($"the path {path} is not in the description, and the answer was {status}, not routing's 404");
            }

            return problems;
        }

        // A Path Item's other members (summary, parameters, servers...) are not operations.
        if (!Methods.Contains(method.Method.ToLowerInvariant()) || !pathItem.Element.TryGetProperty(method.Method.ToLowerInvariant(), out var operation))
        {
            // Outside the contract too: a route of the contract asked with a method it does not have.
            if (status != (int)HttpStatusCode.MethodNotAllowed)
            {
                problems.Add($"{method} {path} is not in the description, and the answer was {status}, not routing's 405");
            }

            return problems;
        }

        var operationPointer = $"{pathItem.Pointer}/{Escape(method.Method.ToLowerInvariant())}";
        if (!operation.TryGetProperty("responses", out var responses) || !TryGetResponse(responses, status, out var key))
        {
            problems.Add($"status {status} is not one the description lists for this operation");
            return problems;
        }

        var (responseObject, responsePointer) = Resolve(responses.GetProperty(key), $"{operationPointer}/responses/{Escape(key)}");
        CheckHeaders(responseObject, responsePointer, response, problems);
        CheckBody(responseObject, responsePointer, response, body, problems);
        return problems;
    }

    private (JsonElement Element, string Pointer)? FindPathItem(string path)
    {
        if (!document.TryGetProperty("paths", out var paths))
        {
            return null;
        }

        foreach (var candidate in paths.EnumerateObject())
        {
            if (string.Equals(candidate.Name, path, StringComparison.Ordinal) || PathTemplate(candidate.Name).IsMatch(path))
            {
                var (element, pointer) = Resolve(candidate.Value, $"/paths/{Escape(candidate.Name)}");
                return (element, pointer);
            }
        }

        return null;
    }

    private static Regex PathTemplate(string template) =>
        new("^" + TemplateParameter().Replace(Regex.Escape(template), "[^/]+") + "$", RegexOptions.CultureInvariant);

    [GeneratedRegex(@"\\\{[^/]+?\}")]
    private static partial Regex TemplateParameter();

    private static bool TryGetResponse(JsonElement responses, int status, out string key)
    {
        foreach (var candidate in new[] { status.ToString(CultureInfo.InvariantCulture), $"{status / 100}XX", "default" })
        {
            if (responses.TryGetProperty(candidate, out _))
            {
                key = candidate;
                return true;
            }
        }

        key = "";
        return false;
    }

    private void CheckHeaders(JsonElement responseObject, string responsePointer, HttpResponseMessage response, List<string> problems)
    {
        if (!responseObject.TryGetProperty("headers", out var headers))
        {
            return;
        }

        foreach (var header in headers.EnumerateObject())
        {
            var (headerObject, headerPointer) = Resolve(header.Value, $"{responsePointer}/headers/{Escape(header.Name)}");
            var required = headerObject.TryGetProperty("required", out var flag) && flag.ValueKind == JsonValueKind.True;
            if (!TryGetHeader(response, header.Name, out var value))
            {
                if (required)
                {
                    problems.Add($"header {header.Name} is required and missing");
                }

                continue;
            }

            if (!headerObject.TryGetProperty("schema", out var schema))
            {
                continue;
            }

            var isInteger = schema.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == "integer";
            var instance = isInteger && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number)
                ? JsonSerializer.SerializeToElement(number)
                : JsonSerializer.SerializeToElement(value);
            foreach (var error in Evaluate($"{headerPointer}/schema", instance))
            {
                problems.Add($"header {header.Name} '{value}': {error}");
            }
        }
    }

    private static bool TryGetHeader(HttpResponseMessage response, string name, out string value)
    {
        if (response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values))
        {
            value = string.Join(", ", values);
            return true;
        }

        value = "";
        return false;
    }

    private void CheckBody(JsonElement responseObject, string responsePointer, HttpResponseMessage response, byte[] body, List<string> problems)
    {
        if (!responseObject.TryGetProperty("content", out var content))
        {
            if (body.Length > 0)
            {
                problems.Add($"the description gives this status no body, but it has {body.Length} bytes");
            }

            return;
        }

        var mediaType = response.Content.Headers.ContentType?.MediaType;
        if (mediaType is null || !content.TryGetProperty(mediaType, out var media))
        {
            problems.Add($"Content-Type '{response.Content.Headers.ContentType}' is not one the description lists ({string.Join(", ", content.EnumerateObject().Select(m => m.Name))})");
            return;
        }

        // RFC 8259 §8.1: JSON is UTF-8; a charset parameter, when there is one, must say so.
        if (response.Content.Headers.ContentType?.CharSet is { } charset && !string.Equals(charset, "utf-8", StringComparison.OrdinalIgnoreCase))
        {
            problems.Add($"Content-Type '{response.Content.Headers.ContentType}' names a charset other than utf-8");
        }

        JsonElement instance;
        try
        {
            using var parsed = JsonDocument.Parse(body);
            instance = parsed.RootElement.Clone();
        }
        catch (JsonException)
        {
            problems.Add("the body is not JSON");
            return;
        }

        if (media.TryGetProperty("schema", out _))
        {
            foreach (var error in Evaluate($"{responsePointer}/content/{Escape(mediaType)}/schema", instance))
            {
                problems.Add($"body {error}");
            }
        }
    }

    /// <summary>The errors of <paramref name="instance"/> against the schema at <paramref name="pointer"/> in the document.</summary>
    private IReadOnlyList<string> Evaluate(string pointer, JsonElement instance)
    {
        // JsonSchema.Net's registry is not thread-safe while schemas are built (json-everything issue #999), and
        // tests run in parallel: one check at a time, which costs nothing next to an HTTP round trip.
        lock (gate)
        {
            if (!schemas.TryGetValue(pointer, out var schema))
            {
                // A schema that only refers into the registered document: its own $refs then resolve against the document.
                var reference = JsonSerializer.SerializeToElement(new Dictionary<string, string> { ["$ref"] = $"{DocumentUri}#{pointer}" });
                schema = JsonSchema.Build(reference, buildOptions, new Uri($"https://functionsauth.test/checks/{schemas.Count}"));
                schemas.Add(pointer, schema);
            }

            var results = schema.Evaluate(instance, new EvaluationOptions { OutputFormat = OutputFormat.List });
            if (results.IsValid)
            {
                return [];
            }

            return (results.Details ?? [])
                .Append(results)
                .Where(r => r.Errors is { Count: > 0 })
                .SelectMany(r => r.Errors!.Select(e => $"at '{r.InstanceLocation}' ({(e.Key.Length > 0 ? e.Key : "false schema")} of {r.SchemaLocation}): {e.Value}"))
                .Distinct()
                .DefaultIfEmpty("does not match the schema")
                .ToList();
        }
    }

    /// <summary>Follows an OpenAPI Reference Object (<c>$ref</c> to <c>#/...</c>) to what it names, with that place's pointer.</summary>
    private (JsonElement Element, string Pointer) Resolve(JsonElement element, string pointer)
    {
        for (var hops = 0; element.ValueKind == JsonValueKind.Object && element.TryGetProperty("$ref", out var reference); hops++)
        {
            var target = reference.GetString() ?? "";
            if (hops > 16 || !target.StartsWith("#/", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"{pointer}: only references inside the document are supported ('{target}').");
            }

            pointer = Uri.UnescapeDataString(target[1..]);
            element = Walk(pointer) ?? throw new InvalidOperationException($"{pointer}: the reference '{target}' names nothing.");
        }

        return (element, pointer);
    }

    /// <summary>The value at a JSON Pointer (RFC 6901) in the document, or null.</summary>
    public JsonElement? Walk(string pointer)
    {
        var current = document;
        foreach (var token in pointer.Split('/').Skip(1).Select(t => t.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)))
        {
            if (current.ValueKind == JsonValueKind.Object && current.TryGetProperty(token, out var next))
            {
                current = next;
            }
            else if (current.ValueKind == JsonValueKind.Array && int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var index) && index < current.GetArrayLength())
            {
                current = current[index];
            }
            else
            {
                return null;
            }
        }

        return current;
    }

    private static string Escape(string token) => token.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);

    /// <summary>
    /// YAML 1.2 (core schema) to JSON: plain scalars may be null, booleans or numbers, quoted and block scalars are
    /// strings. That is the subset an OpenAPI document uses.
    /// </summary>
    private static JsonElement YamlToJson(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        if (stream.Documents.Count != 1)
        {
            throw new InvalidOperationException("The OpenAPI description must be exactly one YAML document.");
        }

        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            Write(writer, stream.Documents[0].RootNode);
        }

        using var json = JsonDocument.Parse(buffer.ToArray());
        return json.RootElement.Clone();
    }

    private static void Write(Utf8JsonWriter writer, YamlNode node)
    {
        switch (node)
        {
            case YamlMappingNode mapping:
                writer.WriteStartObject();
                foreach (var (key, value) in mapping.Children)
                {
                    writer.WritePropertyName(((YamlScalarNode)key).Value ?? "");
                    Write(writer, value);
                }

                writer.WriteEndObject();
                break;
            case YamlSequenceNode sequence:
                writer.WriteStartArray();
                foreach (var item in sequence.Children)
                {
                    Write(writer, item);
                }

                writer.WriteEndArray();
                break;
            case YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain } plain:
                WritePlainScalar(writer, plain.Value ?? "");
                break;
            case YamlScalarNode scalar:
                writer.WriteStringValue(scalar.Value);
                break;
            default:
                throw new InvalidOperationException($"Unsupported YAML node {node.NodeType} at {node.Start}.");
        }
    }

    private static void WritePlainScalar(Utf8JsonWriter writer, string value)
    {
        if (value is "" or "~" or "null" or "Null" or "NULL")
        {
            writer.WriteNullValue();
        }
        else if (value is "true" or "True" or "TRUE" or "false" or "False" or "FALSE")
        {
            writer.WriteBooleanValue(value[0] is 't' or 'T');
        }
        else if (YamlInteger().IsMatch(value) && long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
        {
            writer.WriteNumberValue(integer);
        }
        else if (YamlFloat().IsMatch(value) && decimal.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
        {
            writer.WriteNumberValue(number);
        }
        else
        {
            writer.WriteStringValue(value);
        }
    }

    [GeneratedRegex("^[-+]?[0-9]+$")]
    private static partial Regex YamlInteger();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex YamlFloat();

    /// <summary>Checks every answer; an answer the description does not allow fails the call that got it.</summary>
    private sealed class CheckingHandler(OpenApiContract contract) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            var path = request.RequestUri?.AbsolutePath ?? "";
            var problems = await contract.CheckAsync(request.Method, path, response, cancellationToken);
            if (problems.Count == 0)
            {
                return response;
            }

            // Test bodies carry no real secrets; the body makes the mismatch readable.
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            var message = new StringBuilder()
                .Append(CultureInfo.InvariantCulture, $"{request.Method} {path} answered {(int)response.StatusCode}, which docs/openapi.yaml does not allow:")
                .AppendJoin("", problems.Select(p => $"\n  - {p}"))
                .Append(CultureInfo.InvariantCulture, $"\n  body: {(body.Length > 1000 ? body[..1000] + "..." : body)}")
                .ToString();
            response.Dispose();
            throw new OpenApiContractException(message);
        }
    }
}

/// <summary>An answer of the local host that docs/openapi.yaml does not allow.</summary>
public sealed class OpenApiContractException(string message) : Exception(message);
