using FunctionsAuth.Configuration;
using FunctionsAuth.Sessions;

namespace FunctionsAuth.Tests.Sessions;

/// <summary>Parsing, canonical form and the "may this session ask for it" rule of scoped tokens.</summary>
public sealed class TokenScopeTests
{
    [Theory]
    [InlineData("api", "api")]
    [InlineData("email api", "api email")]
    [InlineData("api  email api ", "api email")]
    [InlineData("https://graph.microsoft.com/.default", "https://graph.microsoft.com/.default")]
    public void TryParse_Scope_CanonicalSortedAndDeduplicated(string scope, string canonical)
    {
        Assert.True(TokenScope.TryParse(scope, null, out var parsed, out var error));

        Assert.Null(error);
        Assert.Equal(canonical, parsed!.Scope);
        Assert.Null(parsed.Resource);
    }

    [Fact]
    public void TryParse_SameScopeAnyOrder_SameKey_OtherScopeOrResource_OtherKey()
    {
        TokenScope Parse(string? scope, string? resource)
        {
            Assert.True(TokenScope.TryParse(scope, resource, out var parsed, out _));
            return parsed!;
        }

        var key = Parse("a b", null).Key;

        Assert.Equal(key, Parse("b a a", null).Key);
        Assert.NotEqual(key, Parse("a", null).Key);
        Assert.NotEqual(key, Parse("a b", "https://api.example/").Key);
        Assert.NotEqual(Parse(null, "https://api.example/").Key, Parse(null, "https://api.example/x").Key);
        Assert.Matches("^[0-9a-f]{32}$", key);
    }

    [Fact]
    public void TryParse_Neither_NullAndValid()
    {
        Assert.True(TokenScope.TryParse(null, null, out var parsed, out var error));
        Assert.Null(parsed);
        Assert.Null(error);
    }

    [Theory]
    [InlineData("", null)]
    [InlineData("   ", null)]
    [InlineData("api\"", null)]
    [InlineData("api\\x", null)]
    [InlineData("ap\u00e9", null)]
    [InlineData("api\temail", null)]
    [InlineData(null, "")]
    [InlineData(null, "relative/path")]
    [InlineData(null, "https://api.example/#fragment")]
    [InlineData(null, "https://api.example/ x")]
    public void TryParse_Malformed_RefusedWithADescription(string? scope, string? resource)
    {
        Assert.False(TokenScope.TryParse(scope, resource, out var parsed, out var error));
        Assert.Null(parsed);
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void TryParse_TooLong_Refused()
    {
        Assert.False(TokenScope.TryParse(new string('a', TokenScope.MaxScopeLength + 1), null, out _, out _));
        Assert.False(TokenScope.TryParse(null, "https://api.example/" + new string('a', TokenScope.MaxResourceLength), out _, out _));
        Assert.True(TokenScope.TryParse(new string('a', TokenScope.MaxScopeLength), null, out _, out _));
    }

    [Theory]
    [InlineData("api", null, "openid api email", null, null, true)]
    [InlineData("api email", null, "openid api email", null, null, true)]
    [InlineData("profile", null, "openid api email", null, null, false)]
    [InlineData("api", null, null, null, null, false)]
    [InlineData("https://graph.microsoft.com/.default", null, "openid offline_access", "https://graph.microsoft.com/.default api://app/.default", null, true)]
    [InlineData("openid", null, "openid offline_access", "https://graph.microsoft.com/.default", null, false)]
    [InlineData(null, "https://api.example/", "openid", null, null, false)]
    [InlineData(null, "https://api.example/", "openid", null, "https://api.example/ https://other.example/", true)]
    [InlineData(null, "https://api.example", "openid", null, "https://api.example/", false)]
    [InlineData("api", "https://api.example/", "openid api", null, "https://api.example/", true)]
    [InlineData("email", "https://api.example/", "openid api", null, "https://api.example/", false)]
    public void IsAllowed_Table(string? scope, string? resource, string? granted, string? allowedScopes, string? allowedResources, bool allowed)
    {
        Assert.True(TokenScope.TryParse(scope, resource, out var parsed, out _));
        var provider = new ProviderOptions { ClientId = "client", AllowedScopes = allowedScopes, AllowedResources = allowedResources };

        Assert.Equal(allowed, parsed!.IsAllowed(granted, provider));
    }

    [Theory]
    [InlineData("openid api", null, "api openid", true)]
    [InlineData("openid api api", null, "api openid", true)]
    [InlineData("api", null, "api openid", false)]
    [InlineData("openid api", "https://api.example/", "api openid", false)]
    [InlineData("openid api", null, null, false)]
    public void IsSessionsOwn_TheWholeGrantWithoutAResource(string scope, string? resource, string? granted, bool own)
    {
        Assert.True(TokenScope.TryParse(scope, resource, out var parsed, out _));

        Assert.Equal(own, parsed!.IsSessionsOwn(granted));
    }
}
