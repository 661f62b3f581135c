using Eventsourced.Metrics;
using RabbitMQ.Client;

namespace Eventsourced.Consuming;

/// <summary>
/// How a transport frames what it writes (SSE events, WebSocket JSON, ...). The consumer frames each
/// delivery as it arrives, on the channel's dispatcher, so that the broker's pooled body is copied once,
/// straight into the transport's bytes.
/// </summary>
internal interface IFrameFormat
{
    /// <summary>A delivery framed into a buffer rented from the shared pool (<see cref="OutboundItem.Release"/> gives it back).</summary>
    OutboundItem Message(ulong tag, ReadOnlySpan<byte> body, IReadOnlyBasicProperties properties, MessageTimestamp published);

    /// <summary>What the transport writes to a subscription that has been silent for the heartbeat interval (shared, never released).</summary>
    OutboundItem Heartbeat { get; }
}
