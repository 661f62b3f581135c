using System.Buffers;
using Eventsourced.Metrics;

namespace Eventsourced.Streaming;

/// <summary>
/// One item waiting to be written to a stream: a framed message with its delivery tag, or a heartbeat
/// (tag 0; AMQP delivery tags start at 1), or a wake-up (tag 0, nothing to write). A message's frame
/// lives in <see cref="Buffer"/>, rented from the shared array pool and given back by
/// <see cref="Release"/> once written: pooled buffers are old, so the stream's (old) buffer never points
/// at a young array, which kept every garbage collection scanning 10,000 streams' worth of memory.
/// <see cref="Published"/> feeds the delivery latency metric.
/// </summary>
internal readonly record struct Delivery(ulong Tag, byte[] Buffer, int Length, MessageTimestamp Published)
{
    private static readonly byte[] HeartbeatFrame = SseFraming.Heartbeat.ToArray();

    public static Delivery Heartbeat { get; } = new(0, HeartbeatFrame, HeartbeatFrame.Length, MessageTimestamp.None);

    /// <summary>Writes nothing: wakes the writer to look at acknowledgements again.</summary>
    public static Delivery Wakeup { get; } = new(0, [], 0, MessageTimestamp.None);

    /// <summary>A message framed into a buffer rented from the shared pool.</summary>
    public static Delivery Message(ulong tag, ReadOnlySpan<byte> body, MessageTimestamp published)
    {
        var trimmed = SseFraming.Trim(body);
        var buffer = ArrayPool<byte>.Shared.Rent(SseFraming.FramedLength(trimmed));
        return new Delivery(tag, buffer, SseFraming.Write(trimmed, buffer), published);
    }

    /// <summary>The bytes to write.</summary>
    public ReadOnlySpan<byte> Frame => Buffer.AsSpan(0, Length);

    /// <summary>A message (as opposed to a heartbeat or a wake-up).</summary>
    public bool IsMessage => Tag != 0;

    /// <summary>Gives a message's buffer back to the pool; the delivery must not be used afterwards.</summary>
    public void Release()
    {
        if (IsMessage)
        {
            ArrayPool<byte>.Shared.Return(Buffer);
        }
    }
}
