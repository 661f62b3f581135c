using Eventsourced.Limits;
using Eventsourced.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Eventsourced.Consuming;

/// <summary>
/// The byte bounds of every subscription (<c>queue.max_message_bytes</c>, <c>queue.max_buffered_bytes</c>), and what
/// happens to a message over the first: it is rejected without requeue, counted and logged. The count bound
/// (<c>queue.prefetch</c>) alone let a stalled reader hold 64 messages of any size (670 MB with 10 MiB messages).
/// Those bounds are per stream: <see cref="MemoryNearlyFull"/> bounds them together.
/// </summary>
internal sealed class MessageLimits(
    IOptions<QueueOptions> options, GatewayMetrics metrics, ILogger<MessageLimits> logger, IOptions<LimitsOptions>? limitsOptions = null)
{
    /// <summary>How long a verdict of <see cref="MemoryNearlyFull"/> stands, and the least time between the collections it asks for.</summary>
    private const long VerdictMilliseconds = 1000;

    /// <summary>
    /// The percent of the memory the runtime may use past which a stream whose client is behind is ended
    /// (<see cref="MemoryNearlyFull"/>): halfway from <c>limits.max_memory_percent</c> (where new subscriptions are
    /// refused) to the limit, 80 with the default 60; 0 (the check off) with <c>max_memory_percent: 0</c>.
    /// </summary>
    private readonly int _endPercent = limitsOptions?.Value.MaxMemoryPercent is > 0 and var percent ? (percent + 100) / 2 : 0;

    private readonly Lock _judging = new();
    private long _judgedAt = long.MinValue;
    private long _judgedBytes;
    private bool _nearlyFull;
    private long _available;

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

    /// <summary>
    /// Whether the heap's live objects take more than <see cref="_endPercent"/> of the memory the runtime may use. A
    /// subscriber's consumer asks when a delivery comes while its client has not taken the ones before (it is behind),
    /// and then ends the stream (<see cref="SubscriptionEndReason.MemoryFull"/>) instead of buffering more: the
    /// per-stream bounds allow each stream 64 MiB (<c>queue.max_buffered_bytes</c>), and four clients that did not read
    /// while 1 MB messages came to their queues ran a 192 MiB heap out (<c>OutOfMemoryException</c> in the broker
    /// connection, which was lost with every stream on it). What is allocated counts garbage too (a reader that keeps
    /// up leaves a large message's frame behind each time), so past the share a full collection is made first, and its
    /// verdict stands for <see cref="VerdictMilliseconds"/> (without it a client reading as fast as it could was ended);
    /// a verdict of room, only while the heap grows by less than half the room left past the share.
    /// </summary>
    public bool MemoryNearlyFull()
    {
        if (_endPercent == 0)
        {
            return false;
        }

        // Most calls find the heap well below the share (a drain's streams are behind at nearly every delivery): they
        // are answered without the lock, and without GetGCMemoryInfo, which allocates its answer.
        var available = Volatile.Read(ref _available);
        if (available <= 0)
        {
            // Before the first collection the runtime reports no memory available at all: read again until it does.
            available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
            if (available <= 0)
            {
                return false;
            }

            Volatile.Write(ref _available, available);
        }

        if (GC.GetTotalMemory(forceFullCollection: false) * 100 <= available * _endPercent)
        {
            return false;
        }

        lock (_judging)
        {
            // A verdict of room stands only while the heap has not grown by half the room left past the share since: large
            // messages arriving at hundreds of megabytes a second filled a 192 MiB heap within the second a verdict of room
            // stood, and the broker connection's reader ran out of memory.
            var now = Environment.TickCount64;
            if (_judgedAt != long.MinValue && now - _judgedAt < VerdictMilliseconds &&
                (_nearlyFull || GC.GetTotalMemory(forceFullCollection: false) - _judgedBytes < available * (100 - _endPercent) / 200))
            {
                return _nearlyFull;
            }

            GC.Collect(2, GCCollectionMode.Forced, blocking: true);
            _judgedBytes = GC.GetTotalMemory(forceFullCollection: false);
            _nearlyFull = _judgedBytes * 100 > available * _endPercent;
            _judgedAt = Environment.TickCount64;
            return _nearlyFull;
        }
    }
}
