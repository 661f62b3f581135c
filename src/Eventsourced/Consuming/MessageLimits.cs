using Eventsourced.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Eventsourced.Consuming;

/// <summary>
/// The byte bounds of every subscription (<c>queue.max_message_bytes</c>, <c>queue.max_buffered_bytes</c>), and what
/// happens to a message over the first: it is rejected without requeue, counted and logged. The count bound
/// (<c>queue.prefetch</c>) alone let a stalled reader hold 64 messages of any size (670 MB with 10 MiB messages).
/// </summary>
internal sealed class MessageLimits(IOptions<QueueOptions> options, GatewayMetrics metrics, ILogger<MessageLimits> logger)
{
    /// <summary>A message whose body is larger is rejected, never framed.</summary>
    public int MaxMessageBytes { get; } = options.Value.MaxMessageBytes;

    /// <summary>Message bytes one subscription may have in flight (delivered, not yet acknowledged).</summary>
    public long MaxBufferedBytes { get; } = options.Value.MaxBufferedBytes;

    /// <summary>
    /// The prefetch that keeps a subscription within <see cref="MaxBufferedBytes"/>: the broker sends up to the prefetch
    /// count of unacknowledged messages, each up to <see cref="MaxMessageBytes"/> (larger ones are rejected unframed),
    /// so the count is capped at their quotient. RabbitMQ has no byte prefetch (<c>prefetch_size</c> is not
    /// implemented) and applies a changed prefetch only to new consumers, so the cap is fixed when the consumer starts.
    /// </summary>
    public int Prefetch(int configured) => (int)Math.Clamp(MaxBufferedBytes / MaxMessageBytes, 1, configured);

    /// <summary>A message of <paramref name="bytes"/> was rejected (dead-lettered, or dropped by the broker without a dead-letter exchange).</summary>
    public void Rejected(string queue, int bytes)
    {
        metrics.MessageRejected(MessageRejectReasons.TooLarge);
        ConsumingLog.MessageTooLarge(logger, queue, bytes, MaxMessageBytes);
    }
}
