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

    /// <summary>Held between requests (long-polling), no request came for it within the hold time.</summary>
    HoldExpired,

    /// <summary>
    /// Held between requests (long-polling), its answer stayed unacknowledged longer than <c>poll.ack_timeout</c>: ended,
    /// so that the broker requeues what it held before its <c>consumer_timeout</c> closes the channel.
    /// </summary>
    AckTimeout,

    /// <summary>The subscriber's token expired (<c>auth.end_at_expiry</c>); the client needs a new one to subscribe again.</summary>
    TokenExpired,

    /// <summary>A topic subscriber fell further behind its topic than <c>topics.buffer</c> events.</summary>
    SlowReader,

    /// <summary>The broker connection under the stream died (node down, stalled past the heartbeat, network cut).</summary>
    BrokerConnectionLost,

    /// <summary>
    /// A delivery came while the client was behind and the heap was nearly full (<see cref="MessageLimits.MemoryNearlyFull"/>):
    /// ended, so that what it buffered is let go and goes back to the queue, instead of running the heap out.
    /// </summary>
    MemoryFull,
}
