namespace Eventsourced.Consuming;

/// <summary>
/// The type a message has on every transport: the AMQP <c>type</c> property without CR, LF and NUL (which an SSE field
/// cannot carry) and without surrounding white space (an <c>event:</c> line keeps it, and a browser then dispatches
/// <c>" "</c> or <c>" price"</c> as an event no <c>onmessage</c> and no <c>addEventListener("price")</c> sees); null when
/// nothing is left. One message, one meaning: an event stream's <c>event:</c>, a WebSocket frame's and a long poll's
/// <c>type</c> are this value, and a message whose type is blank has none anywhere.
/// </summary>
internal static class MessageType
{
    // CR, LF and NUL go as from any SSE field (SseFraming.FieldValue, the one place that strips them); then the white space.
    public static string? Of(string? type) =>
        Sse.SseFraming.FieldValue(type)?.Trim() is { Length: > 0 } trimmed ? trimmed : null;
}
