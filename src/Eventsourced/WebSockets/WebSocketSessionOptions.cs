using Eventsourced.Http;

namespace Eventsourced.WebSockets;

/// <summary>The <c>ws</c> section and the server's pacing, prepared once for every WebSocket session.</summary>
internal sealed class WebSocketSessionOptions(WebSocketTransportOptions options, SubscriptionSettings settings)
{
    private readonly SubscriptionSettings _settings = settings;

    public TimeSpan AckTimeout { get; } = TimeSpan.FromSeconds(options.AckTimeoutSeconds);

    public int MaxMessageSize { get; } = options.MaxMessageSize;

    public bool Publish { get; } = options.Publish;

    public string PublishExchange { get; } = options.PublishExchange;

    public RoutingKeyTemplate PublishRoutingKey { get; } = RoutingKeyTemplate.Parse(options.PublishRoutingKey);

    public int PublishRate { get; } = options.PublishRate;

    public int PublishBurst { get; } = options.PublishBurst;

    /// <summary>
    /// Why a client's publish may not have <paramref name="type"/>, or null when it may. With <c>sse.event</c> on, an EventSource
    /// that reads the message takes <c>error</c> and <c>open</c> for its connection's own events (the page's <c>onerror</c>
    /// and <c>onopen</c>), and the gateway's <c>sse.end_event</c> and <c>sse.heartbeat_event</c> for the end of its stream
    /// (on <c>token expired</c> a page renews and subscribes again, and on a topic resumes before the message, which comes
    /// again) and for a live connection. Judged as readers get the type (<see cref="Consuming.MessageType"/>: without CR, LF
    /// and NUL, and without surrounding white space): <c>"error\u0000"</c>, <c>"op\ren"</c> and <c>" error "</c> reach pages
    /// as <c>error</c> and <c>open</c>.
    /// </summary>
    public string? RefusedType(string? type)
    {
        var field = _settings.SseEventTypes ? Consuming.MessageType.Of(type) : null;
        if (field is null)
        {
            return null;
        }

        var shown = field == type ? $"type '{field}'" : $"type '{field}' (as an EventSource reads it: a type loses CR, LF, NUL and surrounding white space)";
        return field is "error" or "open" ? $"{shown} is not published here: with sse.event an EventSource hands it to the page's on{field}; choose another type"
            : field == _settings.SseEndEvent ? $"{shown} is not published here: with sse.event an EventSource page takes it for the end of its stream (sse.end_event); choose another type"
            : field == _settings.SseHeartbeatEvent ? $"{shown} is not published here: with sse.event an EventSource page takes it for a heartbeat (sse.heartbeat_event); choose another type"
            : null;
    }

    /// <summary>A ping this often (<c>server.heartbeat</c>); zero turns keepalive off.</summary>
    public TimeSpan KeepAliveInterval { get; } = settings.Heartbeat ?? TimeSpan.Zero;

    /// <summary>A client that answers no ping within this (<c>server.write_timeout</c>) is dropped.</summary>
    public TimeSpan KeepAliveTimeout { get; } = settings.Heartbeat is null ? Timeout.InfiniteTimeSpan : settings.WriteTimeout;
}
