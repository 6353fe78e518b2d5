using FunctionsAuth.Sessions;

namespace FunctionsAuth.Tests.Sessions;

public sealed class SessionHandleTests
{
    [Fact]
    public void Create_Returns43CharacterBase64UrlHandlesThatAreUnique()
    {
        var handles = Enumerable.Range(0, 1000).Select(_ => SessionHandle.Create()).ToList();

        Assert.All(handles, h => Assert.Equal(43, h.Length));
        Assert.All(handles, h => Assert.Matches("^[A-Za-z0-9_-]{43}$", h));
        Assert.Equal(handles.Count, handles.Distinct().Count());
    }

    [Fact]
    public void TryGetKey_OwnHandle_GivesTheSha256OfItsBytesAsHex()
    {
        var handle = SessionHandle.Create();

        Assert.True(SessionHandle.TryGetKey(handle, out var key));

        var expected = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Buffers.Text.Base64Url.DecodeFromChars(handle)));
        Assert.Equal(expected, key.Value);
        Assert.DoesNotContain(handle, key.ToString());
        Assert.Equal(12, key.ToString().Length);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("short")]
    [InlineData("not a handle at all, far too long to be one")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB")]
    public void TryGetKey_WrongShape_False(string? handle)
    {
        Assert.False(SessionHandle.TryGetKey(handle, out _));
    }
}
