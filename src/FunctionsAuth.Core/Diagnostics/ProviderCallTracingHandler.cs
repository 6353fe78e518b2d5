using System.Diagnostics;
using System.Globalization;

namespace FunctionsAuth.Diagnostics;

/// <summary>
/// A client span per HTTP call to a provider (token, revocation, discovery). Only the method, host, port and path are
/// recorded: the body carries tokens and secrets, and a query string could carry anything.
/// </summary>
internal sealed class ProviderCallTracingHandler(string clientName) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var activity = FunctionsAuthTracing.Source.StartActivity(request.Method.Method, ActivityKind.Client);
        if (activity is null)
        {
            return await base.SendAsync(request, cancellationToken);
        }

        activity.SetTag("functionsauth.http_client", clientName);
        activity.SetTag("http.request.method", request.Method.Method);
        if (request.RequestUri is { IsAbsoluteUri: true } uri)
        {
            activity.SetTag("server.address", uri.Host);
            activity.SetTag("server.port", uri.Port);
            activity.SetTag("url.scheme", uri.Scheme);
            activity.SetTag("url.path", uri.AbsolutePath);
        }

        try
        {
            var response = await base.SendAsync(request, cancellationToken);
            var status = (int)response.StatusCode;
            activity.SetTag("http.response.status_code", status);
            if (status >= 400)
            {
                activity.SetTag("error.type", status.ToString(CultureInfo.InvariantCulture));
                activity.SetStatus(ActivityStatusCode.Error);
            }

            return response;
        }
        catch (Exception ex)
        {
            // The type only: an exception's message can quote the URL.
            activity.SetTag("error.type", ex.GetType().FullName);
            activity.SetStatus(ActivityStatusCode.Error);
            throw;
        }
    }
}
