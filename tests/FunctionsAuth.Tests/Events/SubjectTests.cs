using System.Net;
using System.Net.Http.Json;
using System.Text;
using FunctionsAuth.Tests.Infrastructure;

namespace FunctionsAuth.Tests.Events;

/// <summary><c>subject</c> on <c>POST /api/auth/sessions</c>: optional, stored with the session in either form, and bad values refused before anything is written.</summary>
public sealed class SubjectTests : DemoProviderTestBase
{
    [Fact]
    public async Task CodeForm_WithSubject_StoredWithTheSession()
    {
        var created = await Host.SignInWithSubjectAsync(Server, "alice", "user-42 (ÄÖ ✓ 👩)");

        Assert.Equal("user-42 (ÄÖ ✓ 👩)", (await RowAsync(created.Session)).Subject);
    }

    [Fact]
    public async Task HandOverForm_WithSubject_StoredWithTheSession()
    {
        // A refresh token the demo server issued (the first session is never used again, so no token is sent twice).
        var signedIn = await Host.SignInAsync(Server, "bob");
        var refreshToken = await StoredRefreshTokenAsync(signedIn.Session);

        using var response = await Host.Client.PostAsJsonAsync("api/auth/sessions", new Dictionary<string, string>
        {
            ["provider"] = TestEnvironment.DemoProvider,
            ["refresh_token"] = refreshToken,
            ["subject"] = "user-7",
        });

        await Expect.StatusAsync(response, HttpStatusCode.Created);
        var created = (await response.Content.ReadFromJsonAsync<SessionCreated>())!;
        Assert.Equal("user-7", (await RowAsync(created.Session)).Subject);
    }

    [Fact]
    public async Task NoSubject_NoneStored()
    {
        var created = await Host.SignInAsync(Server, "carol");

        Assert.Null((await RowAsync(created.Session)).Subject);
    }

    public static TheoryData<string> BadSubjects => new()
    {
        "\"\"",
        "\"" + new string('x', 257) + "\"",
        "\"" + string.Concat(Enumerable.Repeat("👩", 257)) + "\"",
        "\"user\\u0000id\"",
        "\"line\\nbreak\"",
        "\"del\\u007F\"",
        "\"c1\\u0085\"",
        "\"lone\\ud800surrogate\"",
        "42",
        "[\"user\"]",
    };

    [Theory]
    [MemberData(nameof(BadSubjects))]
    public async Task BadSubject_EitherForm_400InvalidRequestAndNothingWrittenOrRedeemed(string subject)
    {
        var code = await Server.AuthorizeAsync(TestEnvironment.DemoClient.ClientId, TestEnvironment.DemoRedirectUri, "openid offline_access api", "dave");
        var before = await Environment.DumpTablesAsync();
        var calls = Server.Statistics.RefreshRequests + Server.Statistics.AuthorizationCodeRedemptions;
        var bodies = new[]
        {
            $$"""{"provider":"demo","code":"{{code.Code}}","code_verifier":"{{code.CodeVerifier}}","redirect_uri":"{{code.RedirectUri.AbsoluteUri}}","subject":{{subject}}}""",
            $$"""{"provider":"demo","refresh_token":"some-refresh-token","subject":{{subject}}}""",
        };

        foreach (var body in bodies)
        {
            using var response = await Host.Client.PostAsync("api/auth/sessions", new StringContent(body, Encoding.UTF8, "application/json"));
            await Expect.ErrorAsync(response, HttpStatusCode.BadRequest, "invalid_request");
        }

        Assert.Equal(before, await Environment.DumpTablesAsync());
        Assert.Equal(calls, Server.Statistics.RefreshRequests + Server.Statistics.AuthorizationCodeRedemptions);
    }

    [Fact]
    public async Task Subject_Of256Characters_Accepted()
    {
        var subject = string.Concat(Enumerable.Repeat("👩", 256));

        var created = await Host.SignInWithSubjectAsync(Server, "erin", subject);

        Assert.Equal(subject, (await RowAsync(created.Session)).Subject);
    }
}
