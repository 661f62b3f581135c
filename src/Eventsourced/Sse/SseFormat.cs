using System.Buffers;
using Eventsourced.Consuming;
using Eventsourced.Metrics;
using RabbitMQ.Client;

namespace Eventsourced.Sse;

/// <summary>Deliveries as SSE events in the original's wire format (<see cref="SseFraming"/>).</summary>
internal sealed class SseFormat : IFrameFormat
{
    private static readonly byte[] HeartbeatFrame = SseFraming.Heartbeat.ToArray();

    public OutboundItem Heartbeat { get; } = OutboundItem.HeartbeatOf(HeartbeatFrame);

    public OutboundItem Message(ulong tag, ReadOnlySpan<byte> body, IReadOnlyBasicProperties properties, MessageTimestamp published)
    {
        var trimmed = SseFraming.Trim(body);
        var buffer = ArrayPool<byte>.Shared.Rent(SseFraming.FramedLength(trimmed));
        return OutboundItem.Message(tag, buffer, SseFraming.Write(trimmed, buffer), published);
    }
}
