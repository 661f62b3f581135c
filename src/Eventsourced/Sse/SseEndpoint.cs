using Eventsourced.Consuming;
using Eventsourced.Http;
using Eventsourced.Metrics;
using Eventsourced.Topics;
using Eventsourced.WebSockets;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Eventsourced.Sse;

/// <summary>
/// The SSE endpoints: <c>GET</c> subscribes to the client's queue (<see cref="HandleAsync"/>) or to a topic
/// (<see cref="HandleTopicAsync"/>) and streams it as events; <c>OPTIONS</c> answers the CORS preflight; anything
/// else is 405 (<see cref="SubscriptionGate"/>). A WebSocket upgrade is refused (400): served as a stream, its queue's
/// messages would be acknowledged into a connection whose client gives up on the 200.
/// </summary>
internal sealed class SseEndpoint(
    SubscriptionGate gate,
    QueueTarget queues,
    TopicTarget topics,
    SubscriptionSettings settings,
    GatewayMetrics metrics,
    IOptions<SseOptions> options,
    IOptions<WebSocketTransportOptions> webSockets)
{
    private readonly string _notAWebSocketEndpoint = NotAWebSocketEndpoint("the event stream", webSockets.Value);

    // Queues keep the original's format unless sse.* asks for more; a topic's events always carry their offset as id.
    private readonly SseFormat _queueFormat = new(new SseFields(
        options.Value.Event, options.Value.Id ? SseIdSource.MessageId : SseIdSource.None, options.Value.RetryMilliseconds));

    private readonly SseFormat _topicFormat = new(new SseFields(options.Value.Event, SseIdSource.StreamOffset, options.Value.RetryMilliseconds));

    /// <summary>Configured headers left to the HTTP server (see <see cref="SseResponseHeaders"/>).</summary>
    public IReadOnlyList<string> IgnoredHeaders => settings.Headers.Ignored;

    public Task HandleAsync(HttpContext context) => HandleAsync(context, queues, _queueFormat);

    public Task HandleTopicAsync(HttpContext context) => HandleAsync(context, topics, _topicFormat);

    private async Task HandleAsync(HttpContext context, ISubscriptionTarget target, SseFormat format)
    {
        if (!await gate.AcceptAsync(context))
        {
            return;
        }

        if (IsWebSocketUpgrade(context.Request))
        {
            await gate.RefuseAsync(context, StatusCodes.Status400BadRequest, StreamOutcomes.BadRequest, _notAWebSocketEndpoint);
        }
        else
        {
            await gate.HandleAsync(context, target, format, subscription => new SseWriter(context, subscription, settings, metrics, format.Opening));
        }
    }

    /// <summary>Why a WebSocket upgrade is refused at an endpoint that serves <paramref name="what"/>: where WebSockets are instead.</summary>
    internal static string NotAWebSocketEndpoint(string what, WebSocketTransportOptions webSockets) =>
        $"not a WebSocket endpoint: this path serves {what}; " + (webSockets.Path.Length > 0 ? $"WebSockets are at {webSockets.Path}" : "WebSockets are switched off (ws.path)");

    /// <summary>
    /// An HTTP/1.1 WebSocket handshake (<c>Upgrade: websocket</c>; RFC 6455): a WebSocket client at the wrong path, or with
    /// <c>ws.path</c> off. Read from the header here because ASP.NET Core's <c>WebSockets.IsWebSocketRequest</c> needs the
    /// WebSocket middleware, which runs on the WebSocket endpoints only.
    /// </summary>
    internal static bool IsWebSocketUpgrade(HttpRequest request)
    {
        foreach (var value in request.Headers.Upgrade)
        {
            foreach (var protocol in (value ?? string.Empty).Split(',', StringSplitOptions.TrimEntries))
            {
                if (protocol.Equals("websocket", StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }

        return false;
    }
}
