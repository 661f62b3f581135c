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

    /// <summary>The broker connection under the stream died (node down, stalled past the heartbeat, network cut).</summary>
    BrokerConnectionLost,
}
