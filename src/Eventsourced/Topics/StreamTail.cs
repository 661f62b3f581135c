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
        if (StreamOffsets.Of(properties) is { } offset)
        {
            _first.TrySetResult(offset);
        }

        return Task.CompletedTask;
    }
}
