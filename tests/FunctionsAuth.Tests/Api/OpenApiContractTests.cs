using System.Net;
using System.Text;
using System.Text.Json;
using FunctionsAuth.Tests.Infrastructure;

namespace FunctionsAuth.Tests.Api;

/// <summary>The check every end-to-end answer goes through: it passes the contract's answers and catches drift.</summary>
public sealed class OpenApiContractTests
{
    private const string Handle = "Qm7f3yXo9kq1Zp0cVbN2sLw8tRe4uYiA6hGjDkF5xMc";
    private const string TheToken = """{"access_token":"at-1","token_type":"Bearer","expires_at":1764000000,"scope":"openid api","refreshed":true}""";

    private static readonly OpenApiContract Contract = OpenApiContract.Repository;

    public static TheoryData<string, string, int, string?, int?> AnswersOfTheContract => new()
    {
        { "POST", "/api/auth/refresh", 200, TheToken, null },
        { "POST", "/api/auth/refresh", 200, """{"access_token":"at-1","token_type":"Bearer","expires_at":1764000000,"scope":null,"refreshed":false}""", null },
        { "POST", "/api/auth/refresh", 401, """{"error":"reauth_required","error_description":"Sign in again."}""", null },
        { "POST", "/api/auth/refresh", 400, """{"error":"invalid_scope","error_description":"Not allowed."}""", null },
        { "POST", "/api/auth/refresh", 400, """{"error":"invalid_request","error_description":"Bad body."}""", null },
        { "POST", "/api/auth/refresh", 429, """{"error":"rate_limited","error_description":"Later."}""", 5 },
        { "POST", "/api/auth/refresh", 503, """{"error":"temporarily_unavailable","error_description":"Storage is down."}""", 2 },
        { "POST", "/api/auth/sessions", 201, $$"""{"session":"{{Handle}}","access_token":"at-1","token_type":"Bearer","expires_at":1764000000,"scope":"openid","id_token":"id-1"}""", null },
        { "POST", "/api/auth/sessions", 400, """{"error":"invalid_grant","error_description":"Code refused."}""", null },
        { "POST", "/api/auth/revoke", 204, null, null },
        { "GET", "/api/health", 200, """{"status":"healthy"}""", null },
        { "GET", "/api/health", 503, """{"error":"unhealthy","error_description":"See the log."}""", 30 },
    };

    [Theory]
    [MemberData(nameof(AnswersOfTheContract))]
    public async Task Check_AnswerTheContractDescribes_NoProblem(string method, string path, int status, string? body, int? retryAfter)
    {
        using var response = Answer(status, body, retryAfter);

        Assert.Empty(await Contract.CheckAsync(new HttpMethod(method), path, response));
    }

    [Fact]
    public async Task Check_ResponseFieldRenamed_Fails()
    {
        using var response = Answer(200, TheToken.Replace("\"access_token\"", "\"accessToken\"", StringComparison.Ordinal));

        var problems = await Contract.CheckAsync(HttpMethod.Post, "/api/auth/refresh", response);

        Assert.Contains(problems, p => p.Contains("access_token", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("accessToken", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Check_RequiredFieldMissing_Fails()
    {
        using var response = Answer(200, """{"access_token":"at-1","token_type":"Bearer","expires_at":1764000000,"scope":"openid"}""");

        var problems = await Contract.CheckAsync(HttpMethod.Post, "/api/auth/refresh", response);

        Assert.Contains(problems, p => p.Contains("refreshed", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("/api/auth/refresh", 401, "rate_limited")]
    [InlineData("/api/auth/refresh", 400, "invalid_grant")]
    [InlineData("/api/auth/sessions", 400, "invalid_scope")]
    [InlineData("/api/auth/revoke", 400, "invalid_scope")]
    [InlineData("/api/auth/revoke", 401, "invalid_session")]
    [InlineData("/api/auth/sessions", 503, "server_error")]
    public async Task Check_ErrorCodeNotOfThatStatus_Fails(string path, int status, string error)
    {
        using var response = Answer(status, $$"""{"error":"{{error}}","error_description":"Something."}""", retryAfter: 5);

        var problems = await Contract.CheckAsync(HttpMethod.Post, path, response);

        Assert.Contains(problems, p => p.Contains("/error'", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(429, "rate_limited")]
    [InlineData(503, "provider_unavailable")]
    [InlineData(503, "temporarily_unavailable")]
    public async Task Check_RetryAfterMissing_Fails(int status, string error)
    {
        using var response = Answer(status, $$"""{"error":"{{error}}","error_description":"Later."}""");

        var problems = await Contract.CheckAsync(HttpMethod.Post, "/api/auth/refresh", response);

        Assert.Equal(["header Retry-After is required and missing"], problems);
    }

    [Fact]
    public async Task Check_RetryAfterAsAnHttpDate_Fails()
    {
        using var response = Answer(503, """{"error":"provider_unavailable","error_description":"Later."}""");
        response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(DateTimeOffset.UnixEpoch);

        var problems = await Contract.CheckAsync(HttpMethod.Post, "/api/auth/refresh", response);

        Assert.Contains(problems, p => p.StartsWith("header Retry-After", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Check_TokenAnswerWithoutNoStore_Fails()
    {
        using var response = Answer(200, TheToken);
        response.Headers.CacheControl = new System.Net.Http.Headers.CacheControlHeaderValue { NoCache = true };

        var problems = await Contract.CheckAsync(HttpMethod.Post, "/api/auth/refresh", response);

        Assert.Contains(problems, p => p.StartsWith("header Cache-Control", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("/api/auth/refresh", 200)]
    [InlineData("/api/auth/refresh", 401)]
    [InlineData("/api/auth/revoke", 204)]
    public async Task Check_AnswerWithoutNoSniff_Fails(string path, int status)
    {
        var body = status switch
        {
            204 => null,
            200 => TheToken,
            _ => """{"error":"invalid_client","error_description":"No key."}""",
        };
        using var response = Answer(status, body);
        response.Headers.Remove("X-Content-Type-Options");

        var problems = await Contract.CheckAsync(HttpMethod.Post, path, response);

        Assert.Contains("header X-Content-Type-Options is required and missing", problems);
    }

    [Theory]
    [InlineData(500, """{"error":"server_error","error_description":"Oops."}""")]
    [InlineData(404, "")]
    [InlineData(409, """{"error":"conflict","error_description":"No."}""")]
    public async Task Check_StatusTheOperationDoesNotList_Fails(int status, string body)
    {
        using var response = Answer(status, body);

        var problems = await Contract.CheckAsync(HttpMethod.Post, "/api/auth/refresh", response);

        Assert.Equal([$"status {status} is not one the description lists for this operation"], problems);
    }

    [Fact]
    public async Task Check_BodyOnA204_Fails()
    {
        using var response = Answer(204, """{"revoked":true}""");

        var problems = await Contract.CheckAsync(HttpMethod.Post, "/api/auth/revoke", response);

        Assert.Contains(problems, p => p.Contains("no body", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Check_SessionThatIsNoHandle_Fails()
    {
        using var response = Answer(201, """{"session":"abc","access_token":"at-1","token_type":"Bearer","expires_at":1764000000,"scope":null}""");

        var problems = await Contract.CheckAsync(HttpMethod.Post, "/api/auth/sessions", response);

        Assert.Contains(problems, p => p.Contains("/session'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Check_FieldTheDescriptionDoesNotHave_Fails()
    {
        using var response = Answer(200, TheToken.Replace("}", ""","subject":"alice"}""", StringComparison.Ordinal));

        var problems = await Contract.CheckAsync(HttpMethod.Post, "/api/auth/refresh", response);

        Assert.Contains(problems, p => p.Contains("subject", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("text/plain; charset=utf-8")]
    [InlineData("application/json; charset=iso-8859-1")]
    public async Task Check_BodyNotUtf8Json_Fails(string contentType)
    {
        using var response = Answer(200, TheToken);
        response.Content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(contentType);

        var problems = await Contract.CheckAsync(HttpMethod.Post, "/api/auth/refresh", response);

        Assert.Contains(problems, p => p.StartsWith("Content-Type", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Check_BodyThatIsNotJson_Fails()
    {
        using var response = Answer(200, "<html>");

        Assert.Equal(["the body is not JSON"], await Contract.CheckAsync(HttpMethod.Post, "/api/auth/refresh", response));
    }

    [Theory]
    [InlineData("GET", "/api/nothing-here", 404, true)]
    [InlineData("GET", "/api/auth/refresh", 405, true)]
    [InlineData("GET", "/api/nothing-here", 200, false)]
    [InlineData("GET", "/api/auth/refresh", 200, false)]
    public async Task Check_RequestOutsideTheContract_OnlyRoutingsOwnAnswerPasses(string method, string path, int status, bool passes)
    {
        using var response = Answer(status, null);

        var problems = await Contract.CheckAsync(new HttpMethod(method), path, response);

        Assert.Equal(passes, problems.Count == 0);
    }

    [Fact]
    public void Description_EveryReferenceResolvesAndEveryOperationIsComplete()
    {
        var document = Contract.Document;
        Assert.Equal("3.1.0", document.GetProperty("openapi").GetString());
        foreach (var reference in References(document))
        {
            Assert.True(reference.StartsWith("#/", StringComparison.Ordinal) && Contract.Walk(Uri.UnescapeDataString(reference[1..])) is not null, $"'{reference}' names nothing in the document");
        }

        foreach (var path in document.GetProperty("paths").EnumerateObject())
        {
            foreach (var operation in path.Value.EnumerateObject())
            {
                Assert.True(operation.Value.TryGetProperty("operationId", out _), $"{operation.Name} {path.Name} has no operationId");
                var anonymous = operation.Value.TryGetProperty("security", out var security) && security.GetArrayLength() == 0;
                Assert.Equal(!anonymous, operation.Value.GetProperty("responses").TryGetProperty("401", out _));
                Assert.False(operation.Value.GetProperty("responses").TryGetProperty("500", out _), "the contract has no 500");
            }
        }
    }

    [Theory]
    [InlineData(typeof(FunctionsAuth.Api.RefreshRequest), "RefreshRequest")]
    [InlineData(typeof(FunctionsAuth.Api.RevokeRequest), "RevokeRequest")]
    public void Description_RequestSchemaHasEveryMemberTheApiReads(Type request, string schema)
    {
        var described = Contract.Document.GetProperty("components").GetProperty("schemas").GetProperty(schema).GetProperty("properties")
            .EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal);
        var read = request.GetProperties()
            .Select(p => p.GetCustomAttributes(typeof(System.Text.Json.Serialization.JsonPropertyNameAttribute), false).Cast<System.Text.Json.Serialization.JsonPropertyNameAttribute>().Single().Name)
            .Order(StringComparer.Ordinal);

        Assert.Equal(read, described);
    }

    [Fact]
    public void Description_RefreshScopePattern_AcceptsWhatTheApiAcceptsAndRefusesWhatItRefuses()
    {
        var pattern = Contract.Document.GetProperty("components").GetProperty("schemas").GetProperty("RefreshRequest")
            .GetProperty("properties").GetProperty("scope").GetProperty("pattern").GetString()!;
        string[] values = ["api", "openid api", " api  email ", "https://graph.microsoft.com/.default", "api\"", "api\\x", "ap\u00e9", "api\temail", " "];

        foreach (var value in values)
        {
            var api = FunctionsAuth.Sessions.TokenScope.TryParse(value, null, out _, out _);
            Assert.True(api == System.Text.RegularExpressions.Regex.IsMatch(value, pattern), $"'{value}': the API says {api}, the description's pattern the opposite");
        }
    }

    private static IEnumerable<string> References(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => element.EnumerateObject().SelectMany(p => p.Name == "$ref" ? [p.Value.GetString()!] : References(p.Value)),
        JsonValueKind.Array => element.EnumerateArray().SelectMany(References),
        _ => [],
    };

    private static HttpResponseMessage Answer(int status, string? body, int? retryAfter = null)
    {
        var response = new HttpResponseMessage((HttpStatusCode)status);
        response.Headers.CacheControl = new System.Net.Http.Headers.CacheControlHeaderValue { NoStore = true };
        response.Headers.Add("X-Content-Type-Options", "nosniff");
        if (retryAfter is { } seconds)
        {
            response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(seconds));
        }

        if (!string.IsNullOrEmpty(body))
        {
            response.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        return response;
    }
}
