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

    /// <summary>The subscriber's token expired (<c>auth.end_at_expiry</c>); the client needs a new one to subscribe again.</summary>
    TokenExpired,

    /// <summary>The broker connection under the stream died (node down, stalled past the heartbeat, network cut).</summary>
    BrokerConnectionLost,
}
