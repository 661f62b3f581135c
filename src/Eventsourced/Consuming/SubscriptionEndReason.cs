namespace Eventsourced.Consuming;

/// <summary>Why a stream ended; logged, and the label of nothing unbounded.</summary>
internal enum SubscriptionEndReason
{
    ClientGone,
    Shutdown,
    ConsumerCancelled,
    ChannelClosed,
    WriteTimeout,
    WriteFailed,
    BufferOverflow,

    /// <summary>A topic subscriber fell further behind its topic than <c>topics.buffer</c> events.</summary>
    SlowReader,
}
