using System.Buffers;
using System.Globalization;
using Eventsourced.Consuming;
using Eventsourced.Metrics;
using RabbitMQ.Client;

namespace Eventsourced.Sse;

/// <summary>Where an event's <c>id:</c> comes from.</summary>
internal enum SseIdSource
{
    /// <summary>No <c>id:</c> line (the original's format).</summary>
    None,

    /// <summary>The AMQP <c>message_id</c> property, when the message has one.</summary>
    MessageId,

    /// <summary>The offset a stream queue gives each message (its <c>x-stream-offset</c> header): what a topic resumes from.</summary>
    StreamOffset,
}

/// <summary>The SSE fields written besides <c>data:</c>; <see cref="Original"/> writes none.</summary>
/// <param name="HeartbeatEvent">The type heartbeats are sent as (<c>sse.heartbeat_event</c>); <c>""</c>: the <c>: heartbeat</c> comment.</param>
internal sealed record SseFields(bool EventFromType, SseIdSource Id, int RetryMilliseconds, string HeartbeatEvent = "")
{
    public static SseFields Original { get; } = new(false, SseIdSource.None, 0);
}

/// <summary>
/// Deliveries as SSE events: the original's wire format (<see cref="SseFraming"/>), preceded by the fields
/// <see cref="SseFields"/> asks for: <c>event:</c> from the AMQP <c>type</c>, <c>id:</c> from the
/// <c>message_id</c> or the stream offset. With <see cref="SseFields.Original"/> the bytes are exactly the original's.
/// </summary>
internal sealed class SseFormat : IFrameFormat
{
    private static readonly byte[] HeartbeatFrame = SseFraming.Heartbeat.ToArray();

    private readonly SseFields _fields;

    public SseFormat()
        : this(SseFields.Original)
    {
    }

    public SseFormat(SseFields fields)
    {
        _fields = fields;
        Heartbeat = OutboundItem.HeartbeatOf(fields.HeartbeatEvent.Length > 0 ? SseFraming.HeartbeatEvent(fields.HeartbeatEvent) : HeartbeatFrame);
        Opening = fields.RetryMilliseconds > 0
            ? [.. SseFraming.Opening, .. SseFraming.Retry(fields.RetryMilliseconds)]
            : SseFraming.Opening.ToArray();
    }

    public SseFields Fields => _fields;

    public OutboundItem Heartbeat { get; }

    /// <summary>What opens every stream: the <c>: SSE stream</c> comment, then <c>retry:</c> when configured.</summary>
    public byte[] Opening { get; }

    public OutboundItem Message(ulong tag, ReadOnlySpan<byte> body, IReadOnlyBasicProperties properties, MessageTimestamp published)
    {
        var trimmed = SseFraming.Trim(body);
        var eventType = _fields.EventFromType ? MessageType.Of(properties.Type) : null;
        var id = _fields.Id switch
        {
            // A message without one gets an empty id: a browser keeps the last id it was sent as the lastEventId of every
            // event after it, so a message without a message_id showed the one before it's (and a page dropping copies by
            // lastEventId dropped it). An empty id resets it, and a queue's stream never needs one back on reconnecting.
            SseIdSource.MessageId => SseFraming.FieldValue(properties.MessageId) ?? string.Empty,
            SseIdSource.StreamOffset => StreamOffsets.Of(properties) is { } offset ? offset.ToString(CultureInfo.InvariantCulture) : null,
            _ => null,
        };
        var length = SseFraming.FramedLength(trimmed)
            + (eventType is null ? 0 : SseFraming.FieldLength(SseFraming.EventField, eventType))
            + (id is null ? 0 : SseFraming.FieldLength(SseFraming.IdField, id));
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        var written = 0;
        if (eventType is not null)
        {
            written += SseFraming.WriteField(SseFraming.EventField, eventType, buffer);
        }

        if (id is not null)
        {
            written += SseFraming.WriteField(SseFraming.IdField, id, buffer.AsSpan(written));
        }

        written += SseFraming.Write(trimmed, buffer.AsSpan(written));
        return OutboundItem.Message(tag, buffer, written, published);
    }
}
