using Eventsourced.Consuming;
using Eventsourced.Metrics;
using Eventsourced.Topics;
using RabbitMQ.Client;

namespace Eventsourced.WebSockets;

/// <summary>
/// Deliveries as WebSocket text frames, one JSON object per message (<see cref="JsonMessage"/>). A queue's
/// message has the delivery tag as its <c>id</c>: unique and increasing within the connection, the number a
/// client acknowledges with <c>{"ack": id}</c>. A topic's event has its stream offset (<see cref="TopicEvent"/>),
/// the number a client resumes after with <c>?lastEventId=</c>.
/// </summary>
internal sealed class WebSocketFormat(bool topicOffsets = false) : IFrameFormat
{
    /// <summary>Never queued: WebSocket keepalive is the protocol's own ping and pong, sent by the framework.</summary>
    public OutboundItem Heartbeat { get; } = OutboundItem.HeartbeatOf([]);

    public OutboundItem Message(ulong tag, ReadOnlySpan<byte> body, IReadOnlyBasicProperties properties, MessageTimestamp published) =>
        JsonMessage.Frame(tag, topicOffsets ? (ulong)TopicEvent.OffsetOf(tag) : tag, body, properties, published);
}
