using System.Diagnostics;
using FunctionsAuth.Sessions;

namespace FunctionsAuth.Diagnostics;

/// <summary>
/// Spans under the activity source <c>FunctionsAuth</c>: one per API call, one per provider HTTP call. Tags never carry
/// a token, handle, secret, body or query string; a session is named by <see cref="SessionKey.LogId"/>, as in the logs.
/// </summary>
public static class FunctionsAuthTracing
{
    public const string SourceName = "FunctionsAuth";

    /// <summary>Tag naming a session: the same 12 hex digits of the session key's hash the logs use.</summary>
    public const string SessionTag = "functionsauth.session";

    public const string RefreshOutcomeTag = "functionsauth.refresh.outcome";

    /// <summary>Whether the request named a <c>scope</c> or <c>resource</c>: a boolean (bounded cardinality), never the value.</summary>
    public const string RefreshScopedTag = "functionsauth.refresh.scoped";

    internal static readonly ActivitySource Source = new(SourceName);

    /// <summary>The span of one call of the HTTP contract (<c>sessions</c>, <c>refresh</c>, <c>revoke</c>); null when nobody listens.</summary>
    public static Activity? StartApiCall(string operation)
    {
        var activity = Source.StartActivity($"auth.{operation}");
        activity?.SetTag("functionsauth.operation", operation);
        return activity;
    }

    /// <summary>Ends an API span with the answer's status; a 5xx marks it failed (4xx are the caller's, not ours).</summary>
    public static void RecordStatus(Activity? activity, int status)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetTag("http.response.status_code", status);
        if (status >= 500)
        {
            activity.SetStatus(ActivityStatusCode.Error);
        }
    }

    /// <summary>Tags the current API span with the refresh's outcome and the session it was for.</summary>
    internal static void RefreshOutcome(SessionKey key, string outcome, bool scoped = false)
    {
        if (Activity.Current is { Source.Name: SourceName } activity)
        {
            activity.SetTag(SessionTag, key.LogId);
            activity.SetTag(RefreshOutcomeTag, outcome);
            activity.SetTag(RefreshScopedTag, scoped);
        }
    }
}
