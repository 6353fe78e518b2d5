using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using CsCheck;
using FunctionsAuth.Tests.Infrastructure;

namespace FunctionsAuth.Tests.EndToEnd;

/// <summary>
/// Property: whatever body arrives at a POST endpoint, the answer is in the contract's shape (never a 5xx), echoes none
/// of the caller's strings, leaves every row as it was when it is an error, and nothing the caller sent reaches the log.
/// Bodies are generated (CsCheck) around the contract's own field names, so most reach the validation of one form or
/// another instead of failing at the JSON parser.
/// </summary>
public sealed class RequestFuzzTests : ScriptedProviderTestBase
{
    private static readonly string[] Fields = ["provider", "code", "code_verifier", "redirect_uri", "refresh_token", "access_token", "expires_at", "scope", "session", "min_ttl", "resource"];

    private static readonly Gen<string> Text = Gen.OneOf(
        Gen.String[0, 40],
        Gen.Char["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"].Array[43].Select(chars => new string(chars)),
        Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789-._~"].Array[40, 130].Select(chars => new string(chars)),
        Gen.OneOf(Gen.Const("https://app.example/cb"), Gen.Const("http://[::1"), Gen.Const("https://app.example/cb#frag"), Gen.Const("javascript:alert(1)")),
        Gen.Const(TestEnvironment.ScriptedProvider),
        Gen.Const(new string('x', 9000)));

    private static readonly Gen<string> Scalar = Gen.OneOf(
        Text.Select(text => JsonSerializer.Serialize(text)),
        Gen.Long.Select(n => n.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        Gen.Double.Select(d => double.IsFinite(d) ? d.ToString("R", System.Globalization.CultureInfo.InvariantCulture) : "1e999"),
        Gen.OneOf(Gen.Const("true"), Gen.Const("null"), Gen.Const("-0"), Gen.Const("1e999"), Gen.Const("[]"), Gen.Const("{}"), Gen.Const("[\"a\",1]"), Gen.Const("{\"a\":{\"b\":[]}}")));

    private static readonly Gen<string> Field = Gen.Frequency((6, Gen.OneOf(Fields.Select(Gen.Const).ToArray())), (1, Gen.String[0, 12]));

    private static readonly Gen<string> Handle = Gen.Char["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"].Array[43].Select(chars => JsonSerializer.Serialize(new string(chars)));

    private static readonly Gen<string> Verifier = Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789-._~"].Array[43, 128].Select(chars => JsonSerializer.Serialize(new string(chars)));

    private static readonly Gen<string> SomeString = Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789"].Array[8, 40].Select(chars => JsonSerializer.Serialize(new string(chars)));

    /// <summary>Bodies of one endpoint's forms, each field valid, replaced by a random value, or left out.</summary>
    private static readonly Gen<(string Endpoint, string Body)> Shaped = Gen.OneOf(
        Form("api/auth/sessions", ("provider", Gen.Const("\"scripted\"")), ("code", SomeString), ("code_verifier", Verifier), ("redirect_uri", Gen.Const("\"https://app.example/cb\""))),
        Form("api/auth/sessions", ("provider", Gen.Const("\"scripted\"")), ("refresh_token", SomeString), ("access_token", SomeString), ("expires_at", Gen.Long[1_700_000_000, 2_000_000_000].Select(n => n.ToString(System.Globalization.CultureInfo.InvariantCulture))), ("scope", Gen.Const("\"openid api\""))),
        Form("api/auth/refresh", ("session", Handle), ("min_ttl", Gen.Int[0, 86400].Select(n => n.ToString(System.Globalization.CultureInfo.InvariantCulture))), ("scope", Gen.OneOf(Gen.Const("\"api\""), Gen.Const("\"openid api\""))), ("resource", Gen.Const("\"https://api.example/\""))),
        Form("api/auth/revoke", ("session", Handle)));

    private static readonly Gen<string> Body = Gen.Frequency(
        (8, Gen.Select(Field, Scalar).Array[0, 7].Select(pairs => "{" + string.Join(",", pairs.Select(p => JsonSerializer.Serialize(p.Item1) + ":" + p.Item2)) + "}")),
        (1, Gen.Byte.Array[0, 64].Select(bytes => Encoding.Latin1.GetString(bytes))),
        (1, Scalar),
        (1, Gen.Select(Field, Scalar).Array[1, 4].Select(pairs => "{" + string.Join(",", pairs.Select(p => JsonSerializer.Serialize(p.Item1) + ":" + p.Item2)))),
        (1, Gen.Const(new string(' ', 17 * 1024) + "{}")));

    private static readonly Gen<string> Endpoint = Gen.OneOf(Gen.Const("api/auth/sessions"), Gen.Const("api/auth/refresh"), Gen.Const("api/auth/revoke"));

    private static readonly Gen<(string Endpoint, string Body)> Request = Gen.Frequency(
        (3, Shaped),
        (1, Gen.Select(Endpoint, Body)));

    private static Gen<(string Endpoint, string Body)> Form(string endpoint, params (string Name, Gen<string> Valid)[] fields)
    {
        var members = fields.Select(field => Gen.Frequency(
            (4, field.Valid.Select(value => $"\"{field.Name}\":{value}")),
            (1, Scalar.Select(value => $"\"{field.Name}\":{value}")),
            (1, Gen.Const(""))));
        var all = members.Aggregate(Gen.Const(Array.Empty<string>()), (acc, member) => Gen.Select(acc, member, static (list, m) => list.Append(m).ToArray()));
        return Gen.Select(all, Gen.Select(Field, Scalar).Array[0, 2], (chosen, extra) =>
            (endpoint, "{" + string.Join(",", chosen.Concat(extra.Select(p => JsonSerializer.Serialize(p.Item1) + ":" + p.Item2)).Where(m => m.Length > 0)) + "}"));
    }

    private readonly ConcurrentBag<string> sent = [];
    private readonly ConcurrentDictionary<int, int> statuses = new();
    [Fact]
    public async Task Post_AnyBody_ContractShapeNo5xxNoEchoNoChangeOnError()
    {
        var tables = await Environment.DumpTablesAsync();
        await Request.SampleAsync(
            async request =>
            {
                var (endpoint, body) = request;
                foreach (var text in StringsIn(body))
                {
                    sent.Add(text);
                }

                using var response = await Host.Client.PostAsync(endpoint, new StringContent(body, Encoding.UTF8, "application/json"));
                var answer = await response.Content.ReadAsStringAsync();
                var status = (int)response.StatusCode;
                statuses.AddOrUpdate(status, 1, static (_, n) => n + 1);

                Assert.True(status is 200 or 201 or 204 or 400 or 401, $"{endpoint} answered {status}: {answer}");
                Assert.Contains("no-store", response.Headers.CacheControl?.ToString() ?? "", StringComparison.Ordinal);
                if (status >= 400)
                {
                    using var error = JsonDocument.Parse(answer);
                    // A refresh's malformed or unknown scope/resource is invalid_scope (RFC 6749 §5.2); everything else invalid_request.
                    string[] codes = status == 401 ? ["invalid_session"] : endpoint == "api/auth/refresh" ? ["invalid_request", "invalid_scope"] : ["invalid_request"];
                    Assert.Contains(error.RootElement.GetProperty("error").GetString(), codes);
                    Assert.False(string.IsNullOrWhiteSpace(error.RootElement.GetProperty("error_description").GetString()));
                    Assert.DoesNotContain(StringsIn(body), text => answer.Contains(text, StringComparison.Ordinal));
                    Assert.Equal(tables, await Environment.DumpTablesAsync());
                }
                else
                {
                    tables = await Environment.DumpTablesAsync();
                }
            },
            iter: 600,
            threads: 1);

        // The generator reaches every branch of the contract, not just the JSON parser's refusal.
        Assert.All(new[] { 201, 204, 400, 401 }, status => Assert.True(statuses.ContainsKey(status), $"no {status} among {string.Join(", ", statuses)}"));
        var logs = Host.Logs.AllText;
        Assert.DoesNotContain(sent, text => logs.Contains(text, StringComparison.Ordinal));
    }

    /// <summary>Every string of at least 8 characters in the body, the length of a token or handle worth leaking.</summary>
    private static IEnumerable<string> StringsIn(string body)
    {
        var words = new List<string>();
        try
        {
            using var document = JsonDocument.Parse(body);
            Collect(document.RootElement, words);
        }
        catch (JsonException)
        {
            words.AddRange(body.Split('"', ' ', ',', ':', '{', '}').Where(w => w.Length >= 8));
        }

        return words.Where(w => w.Length >= 8 && !Fields.Contains(w) && w.Trim().Length >= 8 && w != TestEnvironment.ScriptedProvider && !IsCommonWord(w)).Distinct();
    }

    private static void Collect(JsonElement element, List<string> words)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                words.Add(element.GetString()!);
                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    Collect(item, words);
                }

                break;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    Collect(property.Value, words);
                }

                break;
        }
    }

    /// <summary>Fixed strings of our own that a random string may equal (the example redirect URIs above): not a leak.</summary>
    private static bool IsCommonWord(string word) => word.StartsWith("https://app.example", StringComparison.Ordinal) || word.StartsWith("javascript:", StringComparison.Ordinal) || word.StartsWith("http://[", StringComparison.Ordinal);
}
