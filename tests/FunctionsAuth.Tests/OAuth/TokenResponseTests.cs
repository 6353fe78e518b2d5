using System.Text;
using FunctionsAuth.OAuth;

namespace FunctionsAuth.Tests.OAuth;

public sealed class TokenResponseTests
{
    [Theory]
    [InlineData("1800", 1800)]
    [InlineData("\"1800\"", 1800)]
    [InlineData("0", null)]
    [InlineData("-5", null)]
    [InlineData("\"soon\"", null)]
    public void Parse_RefreshExpiresIn_KeycloaksZeroForOfflineTokensIsUnknown(string refreshExpiresIn, int? seconds)
    {
        var response = Parse($$"""{"access_token":"at","refresh_token":"rt","expires_in":300,"refresh_expires_in":{{refreshExpiresIn}}}""");

        Assert.NotNull(response);
        Assert.Equal(seconds is { } s ? TimeSpan.FromSeconds(s) : null, response.RefreshExpiresIn);
        Assert.Equal(TimeSpan.FromSeconds(300), response.ExpiresIn);
    }

    [Theory]
    [InlineData("3599", 3599)]
    [InlineData("3599.0", 3599)]
    [InlineData("3599.5", 3599)]
    [InlineData("\"3599\"", 3599)]
    [InlineData("\"3599.0\"", 3599)]
    [InlineData("\"\"", null)]
    [InlineData("null", null)]
    [InlineData("0", null)]
    [InlineData("-5", null)]
    [InlineData("1e300", null)]
    [InlineData("\"soon\"", null)]
    [InlineData("[3599]", null)]
    public void Parse_ExpiresInInAnyCommonShape_ReadAsWholeSecondsOrUnknown(string expiresIn, int? seconds)
    {
        var response = Parse($$"""{"access_token":"at","refresh_token":"rt","expires_in":{{expiresIn}}}""");

        Assert.NotNull(response);
        Assert.Equal("at", response.AccessToken);
        Assert.Equal("rt", response.RefreshToken);
        Assert.Equal(seconds is { } s ? TimeSpan.FromSeconds(s) : null, response.ExpiresIn);
    }

    [Theory]
    [InlineData("\"openid api\"", "openid api")]
    [InlineData("[\"openid\",\"api\"]", "openid api")]
    [InlineData("[]", null)]
    [InlineData("\"\"", null)]
    [InlineData("42", null)]
    public void Parse_ScopeAsStringOrArray_JoinedWithSpaces(string scope, string? expected)
    {
        Assert.Equal(expected, Parse($$"""{"access_token":"at","scope":{{scope}}}""")?.Scope);
    }

    [Theory]
    [InlineData("<html><body>502 Bad Gateway</body></html>")]
    [InlineData("")]
    [InlineData("[1,2]")]
    [InlineData("{\"access_token\":")]
    public void Parse_NotAJsonObject_Null(string body)
    {
        Assert.Null(Parse(body));
    }

    [Theory]
    [InlineData("invalid_grant", "invalid_grant")]
    [InlineData("interaction_required", "interaction_required")]
    [InlineData("Invalid Grant: token abc123 expired", null)]
    public void Parse_ErrorCode_KeptOnlyWhenItHasTheShapeOfOne(string error, string? expected)
    {
        var response = Parse($$"""{"error":"{{error}}","error_description":"refresh token xyz is invalid"}""");

        Assert.Equal(expected, response?.Error);
        Assert.Null(response?.AccessToken);
    }

    [Fact]
    public void Parse_EmptyStrings_TreatedAsAbsent()
    {
        var response = Parse("""{"access_token":"at","refresh_token":"","id_token":"","token_type":""}""");

        Assert.Null(response?.RefreshToken);
        Assert.Null(response?.IdToken);
        Assert.Null(response?.TokenType);
    }

    private static TokenResponse? Parse(string json) => TokenResponse.Parse(Encoding.UTF8.GetBytes(json));
}
