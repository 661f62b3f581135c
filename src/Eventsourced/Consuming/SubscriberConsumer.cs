using System.Threading.Channels;
using Eventsourced.Broker;
using Eventsourced.Metrics;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Eventsourced.Consuming;

/// <summary>
/// The AMQP consumer of one subscription. It frames each delivery for the transport (copying it out of
/// the client library's pooled buffer) into a bounded buffer that the transport's writer drains; it never
/// awaits, so it never holds up the channel's dispatcher. The buffer is completed when the consumer or its
/// channel ends.
/// </summary>
internal sealed class SubscriberConsumer : IAsyncBasicConsumer
{
    private readonly Channel<OutboundItem> _buffer;
    private readonly IFrameFormat _format;
    private readonly MessageLimits? _limits;
    private readonly string _queue;
    private int _endReason = -1;
    private int _stopped;
    private ControlSignals _signals;
    private readonly Func<bool>? _connectionOpen;
    private readonly SharedChannel.Seat? _seat;
    private readonly TaskCompletionSource _detached = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <param name="limits">Where a message over <c>queue.max_message_bytes</c> is reported; null: no size limit.</param>
    /// <param name="queue">The queue's name, for the log.</param>
    /// <param name="connectionOpen">Whether the channel's connection is still open: tells a lost connection from a closed channel.</param>
    /// <param name="seat">On a shared channel: the seat that tracks this consumer's deliveries, and settles them.</param>
    public SubscriberConsumer(
        IChannel channel, int prefetch, IFrameFormat format, MessageLimits? limits = null, string queue = "", Func<bool>? connectionOpen = null,
        SharedChannel.Seat? seat = null)
    {
        Channel = channel;
        _seat = seat;
        _format = format;
        _limits = limits;
        _queue = queue;
        _connectionOpen = connectionOpen;
        // The broker sends at most `prefetch` unacknowledged deliveries, a delivery is acked only after
        // it has left this buffer, and at most one heartbeat and one wake-up wait here at a time
        // (ControlSignals), so prefetch + 2 always fits.
        _buffer = System.Threading.Channels.Channel.CreateBounded<OutboundItem>(new BoundedChannelOptions(prefetch + 2)
        {
            // The writer reads, and so does the consumer when it ends the stream for memory (LetGo).
            SingleReader = false,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    public IChannel Channel { get; }

    public ChannelReader<OutboundItem> Reader => _buffer.Reader;

    /// <summary>
    /// Completes once the broker will deliver nothing more to this consumer: its cancel-ok (dispatched after
    /// every delivery before it), a cancel by the broker, or its channel's end.
    /// </summary>
    public Task Detached => _detached.Task;

    /// <summary>Queues a heartbeat, unless one is queued already.</summary>
    public void TryQueueHeartbeat() => _signals.QueueHeartbeat(_buffer.Writer, _format.Heartbeat);

    /// <summary>Wakes the writer to look at acknowledgements again, unless a wake-up is queued already.</summary>
    public void TryQueueWakeup() => _signals.QueueWakeup(_buffer.Writer);

    /// <summary>The writer took a heartbeat or a wake-up off the buffer: another may be queued.</summary>
    public void Taken(OutboundItem control) => _signals.Taken(control);

    /// <summary>Why the consumer ended, once it has; the writer stops at once then (nothing more can be acked).</summary>
    public SubscriptionEndReason? EndReason => Volatile.Read(ref _endReason) is var r and >= 0 ? (SubscriptionEndReason)r : null;

    /// <summary>Ends the consumer's side of the stream; the first reason wins.</summary>
    public void Complete(SubscriptionEndReason reason)
    {
        Interlocked.CompareExchange(ref _endReason, (int)reason, -1);
        _buffer.Writer.TryComplete();
    }

    /// <summary>
    /// The writer is done (its client left, or the gateway stops): wakes it, lets it drain nothing more
    /// and refuses what comes after. A delivery refused here has a higher tag than everything queued
    /// before, and nothing can be queued after it, so no multiple-ack can cover it: it stays
    /// unacknowledged and goes back to the queue when the channel closes (on a shared channel, when its
    /// subscriber leaves: the seat holds it, and leaving requeues all the seat holds).
    /// </summary>
    public void Stop()
    {
        Volatile.Write(ref _stopped, 1);
        _buffer.Writer.TryComplete();
    }

    public Task HandleBasicDeliverAsync(
        string consumerTag,
        ulong deliveryTag,
        bool redelivered,
        string exchange,
        string routingKey,
        IReadOnlyBasicProperties properties,
        ReadOnlyMemory<byte> body,
        CancellationToken cancellationToken = default)
    {
        _seat?.Delivered(deliveryTag);
        if (_limits is { } limits && body.Length > limits.MaxMessageBytes)
        {
            return RejectAsync(deliveryTag, body.Length, limits);
        }

        // Behind: more than the one frame a reader that keeps up may have waiting while its writer writes the one before.
        if (_buffer.Reader.Count > 1 && _limits is { } bounds && bounds.MemoryNearlyFull())
        {
            // The client has not taken what came before, and the heap is nearly full: buffering more for it could run the
            // heap out, ending every stream of the broker connection. This stream ends instead, and lets go of what it
            // buffered: never acknowledged, it goes back to the queue with this delivery when the channel closes.
            Complete(SubscriptionEndReason.MemoryFull);
            LetGo();
            return Task.CompletedTask;
        }

        var delivery = _format.Message(deliveryTag, body.Span, properties, MessageTimestamp.From(properties));
        if (!_buffer.Writer.TryWrite(delivery))
        {
            // Stopped or completed already (the stream is ending), or, against prefetch, full. Either
            // way this delivery must never be covered by a later multiple-ack. After Stop nothing can
            // be queued behind it; otherwise end the stream now, so its channel closes and the broker
            // requeues it with everything else not acknowledged.
            delivery.Release();
            if (Volatile.Read(ref _stopped) == 0)
            {
                Complete(SubscriptionEndReason.BufferOverflow);
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Releases what waits in the completed buffer, now rather than when the writer gets to it (it may wait in a flush
    /// for <c>server.write_timeout</c>). Its deliveries come after everything the writer took, so no multiple-ack covers them.
    /// </summary>
    private void LetGo()
    {
        while (_buffer.Reader.TryRead(out var item))
        {
            if (item.IsMessage)
            {
                item.Release();
            }
            else
            {
                _signals.Taken(item);
            }
        }
    }

    /// <summary>A delivery over <c>queue.max_message_bytes</c>: rejected without requeue, never framed.</summary>
    private async Task RejectAsync(ulong deliveryTag, int bytes, MessageLimits limits)
    {
        try
        {
            // Awaited here, on this subscription's own channel: no later delivery is queued (and so no multiple-ack
            // sent) before the reject has left.
            await (_seat is { } seat
                ? seat.SettleAsync(deliveryTag, multiple: false, Settlement.Discard)
                : Channel.BasicRejectAsync(deliveryTag, requeue: false));
            limits.Rejected(_queue, bytes);
        }
        catch (Exception ex) when (ex is RabbitMQ.Client.Exceptions.AlreadyClosedException or RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            // The channel is closing: the broker requeues the message, and the next subscriber rejects it.
        }
    }

    public Task HandleBasicCancelAsync(string consumerTag, CancellationToken cancellationToken = default)
    {
        Complete(SubscriptionEndReason.ConsumerCancelled);
        _detached.TrySetResult();
        return Task.CompletedTask;
    }

    public Task HandleChannelShutdownAsync(object channel, ShutdownEventArgs reason)
    {
        // The client library marks the connection closed before it shuts its channels down.
        Complete(_connectionOpen is { } open && !open() ? SubscriptionEndReason.BrokerConnectionLost : SubscriptionEndReason.ChannelClosed);
        _detached.TrySetResult();
        return Task.CompletedTask;
    }

    public Task HandleBasicCancelOkAsync(string consumerTag, CancellationToken cancellationToken = default)
    {
        _detached.TrySetResult();
        return Task.CompletedTask;
    }

    public Task HandleBasicConsumeOkAsync(string consumerTag, CancellationToken cancellationToken = default) => Task.CompletedTask;
}
