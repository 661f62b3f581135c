using Eventsourced.Metrics;

namespace Eventsourced.Streaming;

/// <summary>
/// One item waiting to be written to a stream: a framed message with its delivery tag, or a heartbeat
/// (tag 0; AMQP delivery tags start at 1), or a wake-up (tag 0, nothing to write). <see cref="Published"/> feeds the delivery latency metric.
/// </summary>
internal readonly record struct Delivery(ulong Tag, byte[] Frame, MessageTimestamp Published)
{
    public static Delivery Heartbeat { get; } = new(0, SseFraming.Heartbeat.ToArray(), MessageTimestamp.None);

    /// <summary>Writes nothing: wakes the writer to look at acknowledgements again.</summary>
    public static Delivery Wakeup { get; } = new(0, [], MessageTimestamp.None);
}
