using System.Net.Sockets;
using System.Text;
using FunctionsAuth.Tests.Infrastructure;

namespace FunctionsAuth.Tests.EndToEnd;

/// <summary>
/// Bodies no HttpClient would send, written straight onto a socket: a broken chunked encoding, a body shorter than
/// its Content-Length. They are the caller's mistake: 400 invalid_request, no stack trace in the log.
/// </summary>
public sealed class MalformedTransportTests : IAsyncLifetime
{
    private TestEnvironment environment = null!;
    private TestHost host = null!;

    public async Task InitializeAsync()
    {
        environment = await TestEnvironment.CreateAsync();
        host = await environment.StartHostAsync();
    }

    public async Task DisposeAsync() => await host.DisposeAsync();

    [Theory]
    [InlineData("api/auth/refresh")]
    [InlineData("api/auth/sessions")]
    [InlineData("api/auth/revoke")]
    public async Task Post_BrokenChunkedEncoding_400InvalidRequest(string path)
    {
        var answer = await SendRawAsync(path, "Transfer-Encoding: chunked\r\n", "zz\r\n{}\r\n0\r\n\r\n", halfClose: false);

        AssertInvalidRequest(answer);
    }

    [Theory]
    [InlineData("api/auth/refresh")]
    [InlineData("api/auth/sessions")]
    [InlineData("api/auth/revoke")]
    public async Task Post_BodyShorterThanItsContentLength_400InvalidRequestOrNothingAndNoErrorLogged(string path)
    {
        // The client ends its side of the connection mid-body; the server may answer 400 or see the request aborted,
        // and then nobody is there to answer: either way no 500 and no error with a stack trace in the log.
        var answer = await SendRawAsync(path, "Content-Length: 100\r\n", """{"session":""", halfClose: true);

        if (answer.Length > 0)
        {
            AssertInvalidRequest(answer);
        }

        await Task.Delay(200);
        Assert.DoesNotContain(host.Logs.Lines, line => line.StartsWith("Error", StringComparison.Ordinal) || line.Contains("   at ", StringComparison.Ordinal));
    }

    private void AssertInvalidRequest(string answer)
    {
        Assert.StartsWith("HTTP/1.1 400", answer, StringComparison.Ordinal);
        Assert.Contains("\"error\":\"invalid_request\"", answer, StringComparison.Ordinal);
        Assert.Contains("Cache-Control: no-store", answer, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(host.Logs.Lines, line => line.StartsWith("Error", StringComparison.Ordinal) || line.Contains("   at ", StringComparison.Ordinal));
    }

    /// <summary>Sends one request as raw bytes and reads the answer until the server closes or 5 s pass.</summary>
    private async Task<string> SendRawAsync(string path, string framingHeader, string body, bool halfClose)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(host.Address.Host, host.Address.Port);
        var stream = client.GetStream();
        var request = $"POST /{path} HTTP/1.1\r\nHost: {host.Address.Authority}\r\nx-functions-key: {TestEnvironment.FunctionKey}\r\nContent-Type: application/json\r\nConnection: close\r\n{framingHeader}\r\n{body}";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        if (halfClose)
        {
            client.Client.Shutdown(SocketShutdown.Send);
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var answer = new StringBuilder();
        var buffer = new byte[4096];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, timeout.Token)) > 0)
            {
                answer.Append(Encoding.UTF8.GetString(buffer, 0, read));
                if (answer.ToString().Contains("\"error_description\"", StringComparison.Ordinal) && answer.ToString().EndsWith('}'))
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            // Timed out or reset: whatever arrived is the answer.
        }

        return answer.ToString();
    }
}
