using Eventsourced.Consuming;
using Eventsourced.Metrics;
using RabbitMQ.Client;

namespace Eventsourced.WebSockets;

/// <summary>
/// Deliveries as WebSocket text frames, one JSON object per message (<see cref="JsonMessage"/>), its
/// <c>id</c> the delivery tag: unique and increasing within the connection, the number a client
/// acknowledges with <c>{"ack": id}</c>.
/// </summary>
internal sealed class WebSocketFormat : IFrameFormat
{
    /// <summary>Never queued: WebSocket keepalive is the protocol's own ping and pong, sent by the framework.</summary>
    public OutboundItem Heartbeat { get; } = OutboundItem.HeartbeatOf([]);

    public OutboundItem Message(ulong tag, ReadOnlySpan<byte> body, IReadOnlyBasicProperties properties, MessageTimestamp published) =>
        JsonMessage.Frame(tag, idPrefix: null, body, properties, published);
}
