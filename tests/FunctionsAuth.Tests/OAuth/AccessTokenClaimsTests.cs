using System.Text;
using FunctionsAuth.OAuth;

namespace FunctionsAuth.Tests.OAuth;

/// <summary>The <c>exp</c> reader sees caller input: anything but a readable JWT with a numeric exp is "unknown", never an exception.</summary>
public sealed class AccessTokenClaimsTests
{
    [Theory]
    [InlineData("""{"exp":1764000000}""", 1764000000)]
    [InlineData("""{"sub":"a","nested":{"exp":1},"list":[1,2],"exp":1764000000.75}""", 1764000000)]
    public void TryReadExpiry_JwtWithNumericExp_ReadsIt(string payload, long expected)
    {
        Assert.True(AccessTokenClaims.TryReadExpiry(Jwt(payload), out var exp));
        Assert.Equal(expected, exp.ToUnixTimeSeconds());
    }

    [Theory]
    [InlineData("opaque-access-token")]
    [InlineData("a.b")]
    [InlineData("a.b.c.d.e")]
    [InlineData("header.!!!.sig")]
    [InlineData("header..sig")]
    public void TryReadExpiry_NotAJwt_False(string token) =>
        Assert.False(AccessTokenClaims.TryReadExpiry(token, out _));

    [Theory]
    [InlineData("""{"sub":"a"}""")]
    [InlineData("""{"exp":"1764000000"}""")]
    [InlineData("""{"exp":-1}""")]
    [InlineData("""{"exp":1e300}""")]
    [InlineData("""[1764000000]""")]
    [InlineData("""{"exp":""")]
    [InlineData("not json")]
    public void TryReadExpiry_NoUsableExp_False(string payload) =>
        Assert.False(AccessTokenClaims.TryReadExpiry(Jwt(payload), out _));

    private static string Jwt(string payload)
    {
        static string Part(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        return Part("""{"alg":"none"}""") + "." + Part(payload) + ".sig";
    }
}
