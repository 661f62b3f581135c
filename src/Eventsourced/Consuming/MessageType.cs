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
    public static string? Of(string? type)
    {
        if (string.IsNullOrEmpty(type))
        {
            return null;
        }

        if (type.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
        {
            type = string.Concat(type.Where(c => c is not ('\r' or '\n' or '\0')));
        }

        type = type.Trim();
        return type.Length == 0 ? null : type;
    }
}
