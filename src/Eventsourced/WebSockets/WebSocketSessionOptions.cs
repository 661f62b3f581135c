using Eventsourced.Http;

namespace Eventsourced.WebSockets;

/// <summary>The <c>ws</c> section and the server's pacing, prepared once for every WebSocket session.</summary>
internal sealed class WebSocketSessionOptions(WebSocketTransportOptions options, SubscriptionSettings settings)
{
    public TimeSpan AckTimeout { get; } = TimeSpan.FromSeconds(options.AckTimeoutSeconds);

    public int MaxMessageSize { get; } = options.MaxMessageSize;

    public bool Publish { get; } = options.Publish;

    public string PublishExchange { get; } = options.PublishExchange;

    public RoutingKeyTemplate PublishRoutingKey { get; } = RoutingKeyTemplate.Parse(options.PublishRoutingKey);

    public int PublishRate { get; } = options.PublishRate;

    public int PublishBurst { get; } = options.PublishBurst;

    /// <summary>
    /// <c>sse.event</c> is on: a client's publish may not have the type <c>error</c> or <c>open</c>, which an EventSource that
    /// reads it hands to the page's <c>onerror</c> or <c>onopen</c> (as it would a lost or new connection).
    /// </summary>
    public bool SseEventTypes { get; } = settings.SseEventTypes;

    /// <summary>A ping this often (<c>server.heartbeat</c>); zero turns keepalive off.</summary>
    public TimeSpan KeepAliveInterval { get; } = settings.Heartbeat ?? TimeSpan.Zero;

    /// <summary>A client that answers no ping within this (<c>server.write_timeout</c>) is dropped.</summary>
    public TimeSpan KeepAliveTimeout { get; } = settings.Heartbeat is null ? Timeout.InfiniteTimeSpan : settings.WriteTimeout;
}
