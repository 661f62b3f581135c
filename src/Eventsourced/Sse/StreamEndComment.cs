using Eventsourced.Consuming;

namespace Eventsourced.Sse;

/// <summary>
/// The comment a stream's last bytes carry when the gateway ends it, so that a client (or whoever reads its
/// traffic) can tell why: <c>: stream ended: REASON</c> and a blank line. An EventSource ignores comments and
/// reconnects by itself after the end. A stream whose client is gone gets none.
/// </summary>
internal static class StreamEndComment
{
    private static readonly byte[] ConnectionLost = ": stream ended: broker connection lost\n\n"u8.ToArray();
    private static readonly byte[] ChannelClosed = ": stream ended: broker closed the subscription\n\n"u8.ToArray();
    private static readonly byte[] Cancelled = ": stream ended: broker cancelled the subscription (queue deleted)\n\n"u8.ToArray();
    private static readonly byte[] Overflow = ": stream ended: broker sent more than the prefetch\n\n"u8.ToArray();
    private static readonly byte[] Shutdown = ": stream ended: gateway shutting down\n\n"u8.ToArray();
    private static readonly byte[] WriteTimeout = ": stream ended: client not reading (write timeout)\n\n"u8.ToArray();
    private static readonly byte[] SlowReader = ": stream ended: client too slow for the topic (resume with Last-Event-ID)\n\n"u8.ToArray();
    private static readonly byte[] TokenExpired = ": token expired; subscribe again with a new token\n\n"u8.ToArray();

    /// <summary>The comment for <paramref name="reason"/>, or null when nobody would read it.</summary>
    public static byte[]? For(SubscriptionEndReason reason) => reason switch
    {
        SubscriptionEndReason.BrokerConnectionLost => ConnectionLost,
        SubscriptionEndReason.ChannelClosed => ChannelClosed,
        SubscriptionEndReason.ConsumerCancelled => Cancelled,
        SubscriptionEndReason.BufferOverflow => Overflow,
        SubscriptionEndReason.Shutdown => Shutdown,
        SubscriptionEndReason.WriteTimeout => WriteTimeout,
        SubscriptionEndReason.SlowReader => SlowReader,
        SubscriptionEndReason.TokenExpired => TokenExpired,
        _ => null,
    };
}
