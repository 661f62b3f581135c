using System.Buffers;
using Eventsourced.Metrics;

namespace Eventsourced.Consuming;

/// <summary>What an item in a subscription's buffer asks the writer to do.</summary>
internal enum OutboundKind : byte
{
    /// <summary>A delivery: write its frame, then acknowledge its tag once the client has it.</summary>
    Message,

    /// <summary>The subscription was silent for the heartbeat interval: write a comment.</summary>
    Heartbeat,

    /// <summary>Write nothing: look at the pending acknowledgements again.</summary>
    Wakeup,

    /// <summary>
    /// A message whose frame is shared by many subscriptions (a topic's event, framed once for all its readers):
    /// written like <see cref="Message"/>, but its buffer is not the reader's to give back.
    /// </summary>
    SharedMessage,
}

/// <summary>
/// One item waiting in a subscription's buffer for its writer: a message framed for the transport (by an
/// <see cref="IFrameFormat"/>) with its delivery tag, or a control signal (<see cref="OutboundKind.Heartbeat"/>,
/// <see cref="OutboundKind.Wakeup"/>).
/// A message's frame lives in <see cref="Buffer"/>, rented from the shared array pool and given back by
/// <see cref="Release"/> once written: pooled buffers are old, so the subscription's (old) buffer never
/// points at a young array, which kept every garbage collection scanning 10,000 subscriptions' memory.
/// <see cref="Published"/> feeds the delivery latency metric.
/// </summary>
internal readonly record struct OutboundItem(OutboundKind Kind, ulong Tag, byte[] Buffer, int Length, MessageTimestamp Published)
{
    public static OutboundItem Wakeup { get; } = new(OutboundKind.Wakeup, 0, [], 0, MessageTimestamp.None);

    /// <summary>A heartbeat that writes <paramref name="frame"/> (a transport's shared bytes, never released).</summary>
    public static OutboundItem HeartbeatOf(byte[] frame) => new(OutboundKind.Heartbeat, 0, frame, frame.Length, MessageTimestamp.None);

    /// <summary>A message in <paramref name="length"/> bytes of <paramref name="buffer"/>, rented from <see cref="ArrayPool{T}.Shared"/>.</summary>
    public static OutboundItem Message(ulong tag, byte[] buffer, int length, MessageTimestamp published) =>
        new(OutboundKind.Message, tag, buffer, length, published);

    /// <summary>A message framed in <paramref name="frame"/>, which other subscriptions share: never released to the pool.</summary>
    public static OutboundItem Shared(ulong tag, byte[] frame, MessageTimestamp published) =>
        new(OutboundKind.SharedMessage, tag, frame, frame.Length, published);

    /// <summary>The bytes to write (none for a wake-up).</summary>
    public ReadOnlySpan<byte> Frame => Buffer.AsSpan(0, Length);

    public bool IsMessage => Kind is OutboundKind.Message or OutboundKind.SharedMessage;

    /// <summary>Gives a message's buffer back to the pool (a shared frame stays); the item must not be used afterwards.</summary>
    public void Release()
    {
        if (Kind == OutboundKind.Message)
        {
            ArrayPool<byte>.Shared.Return(Buffer);
        }
    }
}
