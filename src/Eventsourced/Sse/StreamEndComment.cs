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
    private static readonly byte[] Cancelled = ": stream ended: broker cancelled the subscription (queue deleted, or its node down)\n\n"u8.ToArray();
    private static readonly byte[] Overflow = ": stream ended: broker sent more than the prefetch\n\n"u8.ToArray();
    private static readonly byte[] Shutdown = ": stream ended: gateway shutting down\n\n"u8.ToArray();
    private static readonly byte[] WriteTimeout = ": stream ended: client not reading (write timeout)\n\n"u8.ToArray();
    private static readonly byte[] SlowReader = ": stream ended: client too slow for the topic (resume with Last-Event-ID)\n\n"u8.ToArray();
    private static readonly byte[] MemoryFull = ": stream ended: gateway memory nearly full while the client was behind\n\n"u8.ToArray();
    private static readonly byte[] TokenExpired = ": token expired; subscribe again with a new token\n\n"u8.ToArray();

    /// <summary>
    /// What the client is told for <paramref name="reason"/>: the comment, and with <c>sse.end_event</c> an event of
    /// that type whose data says why (<see cref="Why"/>), which a page sees (<c>addEventListener</c>) before its
    /// EventSource reconnects: on <c>token expired</c> it can fetch a new token first. Null when nobody would read it.
    /// </summary>
    public static byte[]? For(SubscriptionEndReason reason, string endEvent) =>
        For(reason) is not { } comment ? null
        : endEvent.Length == 0 ? comment
        : [.. comment, .. System.Text.Encoding.UTF8.GetBytes($"event: {endEvent}\ndata: {Why(reason)}\n\n")];

    /// <summary>Why the gateway ended a stream, as the end event's data says it (the comment's words).</summary>
    public static string? Why(SubscriptionEndReason reason) => reason switch
    {
        SubscriptionEndReason.BrokerConnectionLost => "broker connection lost",
        SubscriptionEndReason.ChannelClosed => "broker closed the subscription",
        SubscriptionEndReason.ConsumerCancelled => "broker cancelled the subscription (queue deleted, or its node down)",
        SubscriptionEndReason.BufferOverflow => "broker sent more than the prefetch",
        SubscriptionEndReason.Shutdown => "gateway shutting down",
        SubscriptionEndReason.WriteTimeout => "client not reading (write timeout)",
        SubscriptionEndReason.SlowReader => "client too slow for the topic (resume with Last-Event-ID)",
        SubscriptionEndReason.TokenExpired => "token expired",
        SubscriptionEndReason.MemoryFull => "gateway memory nearly full while the client was behind",
        _ => null,
    };

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
        SubscriptionEndReason.MemoryFull => MemoryFull,
        _ => null,
    };
}
