using System.Net.WebSockets;
using Eventsourced.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebSockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Eventsourced.WebSockets;

/// <summary>
/// <c>ws.close_refusals</c>: a WebSocket subscription the gateway refuses is accepted and closed at once with close code
/// 4000 + the HTTP status it would have answered (4400, 4401, 4403, 4404, 4429, 4503, ...) and the refusal's reason, instead
/// of the HTTP answer before the upgrade. A browser's WebSocket API shows nothing of a refused handshake (its close event
/// says 1006, as after a network failure), so a page could not tell an expired token from a busy queue; a close frame's
/// code and reason it can read. Only for requests to the WebSocket endpoints that are valid WebSocket handshakes: anything
/// else (a plain GET, a malformed upgrade) gets its HTTP answer as before.
/// </summary>
internal sealed class WebSocketRefusal(IOptions<WebSocketTransportOptions> options, ILoggerFactory loggers)
{
    /// <summary>The metadata that marks the WebSocket endpoints (queues and topics) as the ones whose refusals may be closes.</summary>
    internal static readonly Marker EndpointMarker = new();

    /// <summary>What a close frame's reason may hold: 125 bytes of payload less the 2-byte code (RFC 6455 section 5.5).</summary>
    internal const int MaxReasonBytes = 123;

    /// <summary>How long the client has to answer the gateway's close frame before the connection is dropped.</summary>
    internal static readonly TimeSpan CloseHandshakeTimeout = TimeSpan.FromSeconds(5);

    private readonly bool _enabled = options.Value.CloseRefusals;

    // The WebSocket feature comes from ASP.NET Core's middleware, which runs in the WebSocket endpoints' own pipeline; a
    // refusal by the rate limiting middleware comes before that pipeline, so the refusal runs the middleware itself (it
    // leaves a feature that is already there alone).
    private readonly IOptions<WebSocketOptions> _middlewareOptions = Options.Create(new WebSocketOptions { KeepAliveInterval = TimeSpan.Zero });

    /// <summary>Whether <paramref name="context"/>'s refusal is to be a close: the setting is on, and it asks a WebSocket endpoint for an upgrade.</summary>
    public bool Applies(HttpContext context) =>
        _enabled
        && context.GetEndpoint()?.Metadata.GetMetadata<Marker>() is not null
        && Sse.SseEndpoint.IsWebSocketUpgrade(context.Request);

    /// <summary>
    /// Accepts the WebSocket and closes it with 4000 + <paramref name="status"/> and <paramref name="reason"/> (and when to
    /// try again, from <c>Retry-After</c>); a request that is no valid handshake after all gets the HTTP answer.
    /// </summary>
    public Task RefuseAsync(HttpContext context, int status, string reason) =>
        new WebSocketMiddleware(c => CloseAsync(c, status, reason), _middlewareOptions, loggers).Invoke(context);

    /// <summary>
    /// The close reason: <paramref name="reason"/>, with the seconds of <c>Retry-After</c> when there are any, cut to what a
    /// close frame holds. A long reason (a topic's name in it) is cut before the seconds, not the seconds with it: a page
    /// reads them from the reason's end (<c>/retry after (\d+) s$/</c>, README "Refusals a page can read").
    /// </summary>
    internal static string CloseReason(string reason, string? retryAfter)
    {
        if (string.IsNullOrEmpty(retryAfter))
        {
            return WebSocketSession.Truncate(reason);
        }

        var suffix = $"; retry after {retryAfter} s";
        return WebSocketSession.Truncate(reason, MaxReasonBytes - System.Text.Encoding.UTF8.GetByteCount(suffix)) + suffix;
    }

    private static async Task CloseAsync(HttpContext context, int status, string reason)
    {
        if (!context.WebSockets.IsWebSocketRequest || !SubprotocolsAreTokens(context.Request))
        {
            await StatusReason.WriteAsync(context, status, reason);
            return;
        }

        context.Response.Headers[StatusReason.Header] = StatusReason.AsHeaderValue(reason);
        var close = CloseReason(reason, context.Response.Headers.RetryAfter.ToString());
        // A page that asked for subprotocols fails a connection whose answer names none of them before it reads the close
        // frame: the first it asked for is named, so that it reads why it was refused (here: perhaps that very request).
        var requested = context.WebSockets.WebSocketRequestedProtocols;
        using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            SubProtocol = requested.Count > 0 ? requested[0] : null,
            KeepAliveInterval = TimeSpan.Zero,
        });
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        timeout.CancelAfter(CloseHandshakeTimeout);
        try
        {
            // CloseAsync sends the close frame and waits for the client's (reading and dropping anything before it).
            await socket.CloseAsync((WebSocketCloseStatus)(4000 + status), close, timeout.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or IOException or Microsoft.AspNetCore.Connections.ConnectionAbortedException)
        {
            // The client went away or never answered the close: the connection is dropped with the socket.
        }
    }

    /// <summary>
    /// Whether every subprotocol the request names is an RFC 7230 token, as browsers only send (their WebSocket constructor
    /// throws on anything else). The first is echoed in the <c>101</c>, and a header value must be visible ASCII: a name
    /// with other characters (UTF-8 bytes, quotes) made the answer a <c>500</c>, and is no handshake a client could complete.
    /// </summary>
    internal static bool SubprotocolsAreTokens(HttpRequest request)
    {
        foreach (var value in request.Headers.SecWebSocketProtocol)
        {
            foreach (var protocol in (value ?? string.Empty).Split(','))
            {
                var name = protocol.Trim(' ', '\t');
                if (name.Length > 0 && !name.All(IsTokenCharacter))
                {
                    return false;
                }
            }
        }

        return true;
    }

    private static bool IsTokenCharacter(char c) => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal);

    /// <summary>Endpoint metadata: the endpoint serves WebSockets.</summary>
    internal sealed class Marker
    {
    }
}
