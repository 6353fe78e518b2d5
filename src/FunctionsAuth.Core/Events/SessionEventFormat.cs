using System.Net.Mime;
using System.Text.Json;
using System.Text.Json.Serialization;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.SystemTextJson;

namespace FunctionsAuth.Events;

/// <summary>
/// A <see cref="SessionEvent"/> as a CloudEvents 1.0 structured-mode JSON document, the body of both the queue message
/// and the webhook POST.
/// </summary>
/// <remarks>
/// The CloudEvents SDK rather than a hand-written record: it checks the required attributes and their formats (the
/// <c>source</c> URI reference, RFC 3339 <c>time</c>) before anything is sent, and receivers on .NET decode with the
/// same formatter (the tests do, so what goes out is held to the spec by the spec's own library).
/// </remarks>
internal static class SessionEventFormat
{
    public const string ContentType = "application/cloudevents+json; charset=utf-8";

    private static readonly JsonEventFormatter Formatter = new(
        new JsonSerializerOptions { TypeInfoResolver = EventsJsonContext.Default },
        new JsonDocumentOptions());

    public static CloudEvent ToCloudEvent(SessionEvent sessionEvent, Uri source)
    {
        var cloudEvent = new CloudEvent(CloudEventsSpecVersion.V1_0)
        {
            Id = sessionEvent.Id,
            Source = source,
            Type = sessionEvent.Type,
            Time = sessionEvent.Time,
            Subject = sessionEvent.Subject,
            DataContentType = MediaTypeNames.Application.Json,
            Data = new SessionEventData(sessionEvent.Session, sessionEvent.Provider, sessionEvent.Subject, sessionEvent.Reason, sessionEvent.Cause),
        };
        return cloudEvent.Validate();
    }

    /// <summary>UTF-8 JSON of the structured-mode event.</summary>
    public static BinaryData Encode(SessionEvent sessionEvent, Uri source) =>
        new(Formatter.EncodeStructuredModeMessage(ToCloudEvent(sessionEvent, source), out _));

    /// <summary>The id and type of an encoded event (for logs and headers), without trusting anything else in it.</summary>
    public static CloudEvent Decode(BinaryData body) =>
        Formatter.DecodeStructuredModeMessage(body.ToMemory(), new ContentType("application/cloudevents+json"), extensionAttributes: null);
}

/// <summary>The event's <c>data</c>: what an app needs to find the user and decide what to do. Never a token or handle.</summary>
internal sealed record SessionEventData(
    [property: JsonPropertyName("session")] string Session,
    [property: JsonPropertyName("provider")] string Provider,
    [property: JsonPropertyName("subject")] string? Subject,
    [property: JsonPropertyName("reason"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Reason,
    [property: JsonPropertyName("cause"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Cause);

[JsonSerializable(typeof(SessionEventData))]
internal sealed partial class EventsJsonContext : JsonSerializerContext;
