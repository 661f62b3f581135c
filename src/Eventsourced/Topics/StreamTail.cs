using Eventsourced.Consuming;
using RabbitMQ.Client;

namespace Eventsourced.Topics;

/// <summary>
/// Finds where a stream's last chunk starts, before a feed starts reading the stream's new events. A feed that has
/// had no event yet has no id to tell a new subscriber (the id an EventSource resumes from when it was cut off before
/// its first event); the last chunk's first offset, less one, is an id at or before the subscriber's start, found
/// before the feed's consume so that it cannot be past it. AMQP 0-9-1 has no call that reads a stream's end (a
/// stream's <c>queue.declare-ok</c> counts 0 messages), so this consumes from <c>last</c> and takes the first
/// delivery's offset: a stream without events delivers nothing, and the wait gives up.
/// </summary>
internal sealed class StreamTail(IChannel channel) : AsyncDefaultBasicConsumer(channel)
{
    private readonly TaskCompletionSource<long> _first = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Done when the cancel's reply has been dispatched: after every delivery to the tail (one dispatcher per channel, in order).</summary>
    private readonly TaskCompletionSource _cancelled = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>How long the cancel's reply may take to reach the tail's dispatcher.</summary>
    private static readonly TimeSpan CancelDispatchWait = TimeSpan.FromSeconds(5);

    /// <summary>The highest delivery tag the tail was given (0: none).</summary>
    private long _lastTag;

    /// <summary>
    /// The offset before the last chunk's first event (-1 when that event is the stream's first), or null when the
    /// stream delivered nothing within <paramref name="wait"/> (it has no events, or the broker was slow).
    /// Leaves the channel's prefetch at 1 for its next consumers: the caller sets its own.
    /// </summary>
    public static async Task<long?> FindAsync(IChannel channel, string stream, TimeSpan wait, TimeProvider time, CancellationToken cancellationToken)
    {
        var tail = new StreamTail(channel);
        await channel.BasicQosAsync(0, 1, global: false, cancellationToken);
        var tag = await channel.BasicConsumeAsync(
            stream, autoAck: false, consumerTag: string.Empty, noLocal: false, exclusive: false,
            arguments: new Dictionary<string, object?> { [StreamOffsets.Header] = "last" }, consumer: tail, cancellationToken: cancellationToken);
        long? found = null;
        try
        {
            found = await tail._first.Task.WaitAsync(wait, time, cancellationToken) - 1;
        }
        catch (TimeoutException)
        {
            // Nothing in the stream, or nothing yet: no id before the feed's first event.
        }

        await channel.BasicCancelAsync(tag, noWait: false, cancellationToken);
        // What the tail was given is acknowledged once nothing more can come (after the cancel's reply): a delivery left
        // unacknowledged on the feed's channel until the feed's first acknowledgement covers it made RabbitMQ close the
        // channel after consumer_timeout (30 min by default) on a topic that had no event for that long, ending its feed.
        // A reply that is not dispatched in time (the channel is closing) leaves nothing to acknowledge on it.
        try
        {
            await tail._cancelled.Task.WaitAsync(CancelDispatchWait, time, cancellationToken);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            return found;
        }

        if (Interlocked.Read(ref tail._lastTag) is > 0 and var last)
        {
            await channel.BasicAckAsync((ulong)last, multiple: true, cancellationToken);
        }

        return found;
    }

    public override Task HandleBasicDeliverAsync(
        string consumerTag,
        ulong deliveryTag,
        bool redelivered,
        string exchange,
        string routingKey,
        IReadOnlyBasicProperties properties,
        ReadOnlyMemory<byte> body,
        CancellationToken cancellationToken = default)
    {
        InterlockedMax(ref _lastTag, (long)deliveryTag);
        if (StreamOffsets.Of(properties) is { } offset)
        {
            _first.TrySetResult(offset);
        }

        return Task.CompletedTask;
    }

    public override async Task HandleBasicCancelOkAsync(string consumerTag, CancellationToken cancellationToken = default)
    {
        await base.HandleBasicCancelOkAsync(consumerTag, cancellationToken);
        _cancelled.TrySetResult();
    }

    private static void InterlockedMax(ref long location, long value)
    {
        var seen = Interlocked.Read(ref location);
        while (value > seen && Interlocked.CompareExchange(ref location, value, seen) is var now && now != seen)
        {
            seen = now;
        }
    }
}
