using Eventsourced.Consuming;
using Eventsourced.Metrics;
using Eventsourced.Topics;
using RabbitMQ.Client;

namespace Eventsourced.WebSockets;

/// <summary>
/// Deliveries as WebSocket text frames, one JSON object per message (<see cref="JsonMessage"/>). A queue's
/// message has the delivery tag plus the connection's <see cref="IdOffset"/> as its <c>id</c>: unique and increasing
/// within the connection, the number a client acknowledges with <c>{"ack": id}</c>. A topic's event has its stream
/// offset (<see cref="TopicEvent"/>), the number a client resumes after with <c>?lastEventId=</c>.
/// </summary>
internal sealed class WebSocketFormat(bool topicOffsets = false, ulong idOffset = 0) : IFrameFormat
{
    /// <summary>Below 2^52, so that every id stays an exact number in JavaScript (2^53) for 2^52 deliveries.</summary>
    private const ulong MaxIdOffset = 1UL << 52;

    /// <summary>Never queued: WebSocket keepalive is the protocol's own ping and pong, sent by the framework.</summary>
    public OutboundItem Heartbeat { get; } = OutboundItem.HeartbeatOf([]);

    /// <summary>What a queue message's <c>id</c> adds to its delivery tag.</summary>
    public ulong IdOffset { get; } = idOffset;

    /// <summary>A topic's frames: each event's id is its stream offset.</summary>
    public bool TopicOffsets => topicOffsets;

    /// <summary>
    /// The format of one connection to a queue: its ids start at a random number, not at 1, so that an id a client
    /// remembers from an earlier connection (an acknowledgement resent after a reconnect) names no message of this
    /// one and is refused, instead of acknowledging a message the client has not handled.
    /// </summary>
    public static WebSocketFormat ForQueueConnection() => new(idOffset: (ulong)Random.Shared.NextInt64(1, (long)MaxIdOffset));

    public OutboundItem Message(ulong tag, ReadOnlySpan<byte> body, IReadOnlyBasicProperties properties, MessageTimestamp published) =>
        JsonMessage.Frame(tag, topicOffsets ? (ulong)TopicEvent.OffsetOf(tag) : tag + IdOffset, body, properties, published);

    /// <summary>The delivery tag a client's acknowledgement of <paramref name="id"/> names, or null when it names none of this connection.</summary>
    public ulong? TagOf(ulong id) => id > IdOffset ? id - IdOffset : null;
}
