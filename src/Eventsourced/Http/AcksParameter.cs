using Eventsourced.WebSockets;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Http;

/// <summary>
/// <c>?acks=</c> where it means nothing: a WebSocket's choice (<c>acks=client</c>: the client acknowledges each message), which
/// an event stream and a long-poll do not offer. Taken silently, a page that asked for acknowledgements of its own believed
/// that a message it had not processed would come again; the endpoints refuse it (400) with what they do instead.
/// </summary>
internal static class AcksParameter
{
    /// <summary>
    /// Whether the request names <c>acks</c> where it must not: any value but one <c>acks=auto</c> (what an event stream does)
    /// when <paramref name="autoTaken"/>, any value otherwise; never when the application reads the parameter itself
    /// (<paramref name="readByPattern"/>: a <c>${query:acks}</c> in <c>queue.pattern</c> or <c>queue.bind</c>).
    /// </summary>
    public static bool Refused(HttpRequest request, bool autoTaken, bool readByPattern) =>
        !readByPattern
        && request.Query.TryGetValue(WebSocketEndpoint.AcksParameter, out var values)
        && !(autoTaken && values.Count == 1 && values[0] == "auto");
}
