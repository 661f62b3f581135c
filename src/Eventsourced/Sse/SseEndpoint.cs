using Eventsourced.Hosting;
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
/// long-poll endpoint's own path (<c>/poll/topics/news</c>, <c>/ws/x</c>), or one of them with a query after a <c>&amp;</c> instead
/// of a <c>?</c> (<c>/poll&amp;ack=ID</c>), that <c>server.path</c> covers is no stream but 404 with where those endpoints are: a
/// client meant for them would not read the stream it got.
/// </summary>
internal sealed class SseEndpoint(
    SubscriptionGate gate,
    QueueTarget queues,
    TopicTarget topics,
    SubscriptionSettings settings,
    GatewayMetrics metrics,
    IOptions<SseOptions> options,
    IOptions<WebSocketTransportOptions> webSockets,
    IOptions<TopicOptions> topicOptions,
    MappedEndpoints mapped)
{
    /// <summary>The paths below the WebSocket and long-poll endpoints, once routing has mapped them (at the first request).</summary>
    private (string Prefix, Func<string, string> Reason)[]? _otherEndpoints;

    // Queues keep the original's format unless sse.* asks for more; a topic's events always carry their offset as id.
    private readonly SseFormat _queueFormat = new(new SseFields(
        options.Value.Event, options.Value.Id ? SseIdSource.MessageId : SseIdSource.None, options.Value.RetryMilliseconds, options.Value.HeartbeatEvent));

    private readonly SseFormat _topicFormat = new(new SseFields(options.Value.Event, SseIdSource.StreamOffset, options.Value.RetryMilliseconds, options.Value.HeartbeatEvent));

    /// <summary>Configured headers left to the HTTP server (see <see cref="SseResponseHeaders"/>).</summary>
    public IReadOnlyList<string> IgnoredHeaders => settings.Headers.Ignored;

    public Task HandleAsync(HttpContext context)
    {
        // The queue stream is the endpoint a server.path ending in / maps for every path no other endpoint claims.
        var path = context.Request.Path.Value ?? string.Empty;
        foreach (var (prefix, reason) in _otherEndpoints ??= OtherEndpoints(mapped, topicOptions.Value.Path))
        {
            if (path.Length > prefix.Length && path.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) && CoveredByStream(context, prefix))
            {
                return gate.RefuseNoEndpointAsync(context, reason(context.Request.PathBase.Value ?? string.Empty));
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
            await gate.RefuseAsync(context, StatusCodes.Status400BadRequest, StreamOutcomes.BadRequest, NotAWebSocketEndpoint(context, "the event stream", webSockets.Value, mapped));
        }
        else if (AcksParameter.Refused(context.Request, autoTaken: true, readByPattern: target == queues && queues.ReadsQueryParameter(WebSocketEndpoint.AcksParameter)))
        {
            await gate.RefuseAsync(context, StatusCodes.Status400BadRequest, StreamOutcomes.BadRequest, AcksNotTaken(context, target == topics, mapped));
        }
        else if (target == queues && context.Request.Query.ContainsKey(PollEndpoint.AckParameter) && !queues.ReadsQueryParameter(PollEndpoint.AckParameter))
        {
            // A long-poll sent here (the stream's URL, or poll.path switched off): taken, its messages were acknowledged into
            // an event stream that a client waiting for a JSON answer never reads, and lost.
            await gate.RefuseAsync(context, StatusCodes.Status400BadRequest, StreamOutcomes.BadRequest, AckNotTaken(context, mapped));
        }
        else
        {
            await gate.HandleAsync(context, target, format, subscription => new SseWriter(context, subscription, settings, metrics, format.Opening, options.Value.EndEvent));
        }
    }

    /// <summary>
    /// Why an event stream refuses <c>?acks=</c> (other than <c>acks=auto</c>, which is what it does): an EventSource cannot
    /// acknowledge anything; what it does instead, and where a client that must acknowledge what it processed reads.
    /// </summary>
    internal static string AcksNotTaken(HttpContext context, bool topic, MappedEndpoints mapped)
    {
        if (topic)
        {
            return "query parameter 'acks' is for WebSockets' queues: a topic keeps every event, and its subscriber resumes after the last id it has (Last-Event-ID, ?lastEventId=ID)";
        }

        var elsewhere = (mapped.WebSockets, mapped.LongPolls) switch
        {
            ({ } ws, { } poll) => $"; to acknowledge each message yourself, read it over a WebSocket ({MappedEndpoints.Public(context, ws)}?...&acks=client) or long-polls ({MappedEndpoints.Public(context, poll)})",
            ({ } ws, null) => $"; to acknowledge each message yourself, read it over a WebSocket ({MappedEndpoints.Public(context, ws)}?...&acks=client)",
            (null, { } poll) => $"; to acknowledge each message yourself, read it with long-polls ({MappedEndpoints.Public(context, poll)})",
            _ => string.Empty,
        };
        return "query parameter 'acks' is for WebSockets: an event stream's message is acknowledged once the client's TCP has it (an EventSource cannot acknowledge)" + elsewhere;
    }

    /// <summary>
    /// Why a queue's event stream refuses <c>?ack=</c>: the long-poll's acknowledgement, which a client polling at the wrong path
    /// (or after <c>poll.path</c> was switched off) sends; where long-polls are, if anywhere.
    /// </summary>
    internal static string AckNotTaken(HttpContext context, MappedEndpoints mapped)
    {
        const string Stream = "an event stream's message is acknowledged once the client's TCP has it, and a poll reading one would lose it";
        return mapped.LongPolls is { } poll
            ? $"query parameter 'ack' is for long-polls, at {MappedEndpoints.Public(context, poll)}?...&ack=ID: {Stream}"
            : $"query parameter 'ack' is for long-polls, which are not served here (poll.path): {Stream}";
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

    /// <summary>
    /// The paths below the WebSocket and long-poll endpoints the application mapped (<c>/ws/</c>, <c>/poll/</c>), each with the
    /// reason of its 404 (given the request's path base, <c>UsePathBase</c>), which names where they are (and where the topics they serve are, <paramref name="topicsPath"/> below the
    /// WebSocket endpoint as <see cref="Microsoft.AspNetCore.Builder.EventsourcedEndpointRouteBuilderExtensions.MapEventsourcedWebSockets"/> maps them).
    /// </summary>
    private static (string Prefix, Func<string, string> Reason)[] OtherEndpoints(MappedEndpoints mapped, string topicsPath)
    {
        var endpoints = new List<(string, Func<string, string>)>();
        if (mapped.WebSockets is { } wsPath)
        {
            endpoints.Add((wsPath.TrimEnd('/') + "/", pathBase => $"no such endpoint: WebSockets are served at {pathBase}{wsPath}"
                + (topicsPath.Length > 0 ? $" (topics at {pathBase}{wsPath.TrimEnd('/')}{topicsPath}NAME)" : string.Empty)));
            endpoints.Add((wsPath.TrimEnd('/') + "&", pathBase => QueryWithoutQuestionMark("WebSockets", pathBase + wsPath.TrimEnd('/'))));
        }

        if (mapped.LongPolls is { } pollPath)
        {
            var topicsAt = mapped.Topics;
            endpoints.Add((pollPath.TrimEnd('/') + "/", pathBase => $"no such endpoint: long-polls are served at {pathBase}{pollPath} (queues)"
                + (topicsAt is not null ? $"; topics are not long-polled, stream them from {pathBase}{topicsAt}NAME" : string.Empty)));
            // /poll&ack=ID: a query appended with '&' to a URL that had none (a pattern that needs no query parameter).
            endpoints.Add((pollPath.TrimEnd('/') + "&", pathBase => QueryWithoutQuestionMark("long-polls", pathBase + pollPath.TrimEnd('/'))));
        }

        return [.. endpoints];
    }

    private static string QueryWithoutQuestionMark(string what, string path) =>
        $"no such endpoint: {what} are served at {path}; a query follows a '?' ({path}?NAME=VALUE), not a '&'";

    /// <summary>
    /// Why a WebSocket upgrade is refused at an endpoint that serves <paramref name="what"/>: where WebSockets are instead, as the
    /// application mapped them (below the request's path base), or that they are switched off or not served.
    /// </summary>
    internal static string NotAWebSocketEndpoint(HttpContext context, string what, WebSocketTransportOptions webSockets, MappedEndpoints mapped) =>
        $"not a WebSocket endpoint: this path serves {what}; " + (mapped.WebSockets is { } path
            ? $"WebSockets are at {MappedEndpoints.Public(context, path)}"
            : webSockets.Path.Length > 0 ? "WebSockets are not served here" : "WebSockets are switched off (ws.path)");

    /// <summary>
    /// A WebSocket handshake: HTTP/1.1's <c>Upgrade: websocket</c> (RFC 6455) or HTTP/2's <c>CONNECT</c> with
    /// <c>:protocol websocket</c> (RFC 8441); a WebSocket client at the wrong path, or with <c>ws.path</c> off. Read from
    /// the request here because ASP.NET Core's <c>WebSockets.IsWebSocketRequest</c> needs the WebSocket middleware, which
    /// runs on the WebSocket endpoints only.
    /// </summary>
    internal static bool IsWebSocketUpgrade(HttpRequest request)
    {
        if (request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpExtendedConnectFeature>() is { IsExtendedConnect: true } connect)
        {
            return string.Equals(connect.Protocol, "websocket", StringComparison.OrdinalIgnoreCase);
        }

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
