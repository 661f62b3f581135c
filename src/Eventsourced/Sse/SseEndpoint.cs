using Eventsourced.Consuming;
using Eventsourced.Http;
using Eventsourced.LongPolling;
using Eventsourced.Metrics;
using Eventsourced.Topics;
using Eventsourced.WebSockets;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace Eventsourced.Sse;

/// <summary>
/// The SSE endpoints: <c>GET</c> subscribes to the client's queue (<see cref="HandleAsync"/>) or to a topic
/// (<see cref="HandleTopicAsync"/>) and streams it as events; <c>OPTIONS</c> answers the CORS preflight; anything
/// else is 405 (<see cref="SubscriptionGate"/>). A WebSocket upgrade is refused (400): served as a stream, its queue's
/// messages would be acknowledged into a connection whose client gives up on the 200. A path below the WebSocket or
/// long-poll endpoint's own path (<c>/poll/topics/news</c>, <c>/ws/x</c>) that <c>server.path</c> covers is no stream
/// but 404 with where those endpoints are: a client meant for them would not read the stream it got.
/// </summary>
internal sealed class SseEndpoint(
    SubscriptionGate gate,
    QueueTarget queues,
    TopicTarget topics,
    SubscriptionSettings settings,
    GatewayMetrics metrics,
    IOptions<SseOptions> options,
    IOptions<WebSocketTransportOptions> webSockets,
    IOptions<LongPollingOptions> polls,
    IOptions<TopicOptions> topicOptions)
{
    private readonly string _notAWebSocketEndpoint = NotAWebSocketEndpoint("the event stream", webSockets.Value);

    private readonly (string Prefix, string Reason)[] _otherEndpoints = OtherEndpoints(webSockets.Value.Path, polls.Value.Path, topicOptions.Value.Path);

    // Queues keep the original's format unless sse.* asks for more; a topic's events always carry their offset as id.
    private readonly SseFormat _queueFormat = new(new SseFields(
        options.Value.Event, options.Value.Id ? SseIdSource.MessageId : SseIdSource.None, options.Value.RetryMilliseconds));

    private readonly SseFormat _topicFormat = new(new SseFields(options.Value.Event, SseIdSource.StreamOffset, options.Value.RetryMilliseconds));

    /// <summary>Configured headers left to the HTTP server (see <see cref="SseResponseHeaders"/>).</summary>
    public IReadOnlyList<string> IgnoredHeaders => settings.Headers.Ignored;

    public Task HandleAsync(HttpContext context)
    {
        // The queue stream is the endpoint a server.path ending in / maps for every path no other endpoint claims.
        var path = context.Request.Path.Value ?? string.Empty;
        foreach (var (prefix, reason) in _otherEndpoints)
        {
            if (path.Length > prefix.Length && path.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) && CoveredByStream(context, prefix))
            {
                return gate.RefuseNoEndpointAsync(context, reason);
            }
        }

        return HandleAsync(context, queues, _queueFormat);
    }

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

    /// <summary>
    /// Whether <paramref name="prefix"/> lies below the path the stream was mapped at (<c>/</c> covers <c>/poll/</c>); not when the
    /// stream itself is mapped below it (<c>server.path: /ws/events/</c>) or the other endpoint is <c>/</c>.
    /// </summary>
    private static bool CoveredByStream(HttpContext context, string prefix)
    {
        var pattern = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? string.Empty;
        var stream = pattern.EndsWith("{**rest}", StringComparison.Ordinal) ? pattern[..^"{**rest}".Length] : pattern;
        return stream.Length > 0 && prefix.Length > stream.Length && prefix.StartsWith(stream, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The paths below the WebSocket and long-poll endpoints (<c>/ws/</c>, <c>/poll/</c>), each with the reason of its 404.</summary>
    private static (string Prefix, string Reason)[] OtherEndpoints(string wsPath, string pollPath, string topicsPath)
    {
        var endpoints = new List<(string, string)>();
        if (wsPath.Length > 0)
        {
            var topics = topicsPath.Length > 0 ? $" (topics at {wsPath.TrimEnd('/')}{topicsPath}NAME)" : string.Empty;
            endpoints.Add((wsPath.TrimEnd('/') + "/", $"no such endpoint: WebSockets are served at {wsPath}{topics}"));
        }

        if (pollPath.Length > 0)
        {
            var topics = topicsPath.Length > 0 ? $"; topics are not long-polled, stream them from {topicsPath}NAME" : string.Empty;
            endpoints.Add((pollPath.TrimEnd('/') + "/", $"no such endpoint: long-polls are served at {pollPath} (queues){topics}"));
        }

        return [.. endpoints];
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
