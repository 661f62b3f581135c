using System.Threading.Channels;
using Eventsourced.Metrics;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Eventsourced.Streaming;

/// <summary>
/// The AMQP consumer of one stream. It frames each delivery (copying it out of the client's pooled
/// buffer) into a bounded buffer that the stream's writer drains; it never awaits, so it never holds
/// up the channel's dispatcher. The buffer is completed when the consumer or its channel ends.
/// </summary>
internal sealed class SubscriberConsumer : IAsyncBasicConsumer
{
    private readonly Channel<Delivery> _buffer;
    private int _endReason = -1;

    public SubscriberConsumer(IChannel channel, int prefetch)
    {
        Channel = channel;
        // The broker sends at most `prefetch` unacknowledged deliveries, and a delivery is acked only
        // after it has left this buffer, so prefetch + a heartbeat + a wake-up always fit.
        _buffer = System.Threading.Channels.Channel.CreateBounded<Delivery>(new BoundedChannelOptions(prefetch + 2)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    public IChannel Channel { get; }

    public ChannelReader<Delivery> Reader => _buffer.Reader;

    /// <summary>Queues a heartbeat unless the buffer is full (then data is pending anyway).</summary>
    public bool TryQueueHeartbeat() => _buffer.Writer.TryWrite(Delivery.Heartbeat);

    /// <summary>Wakes the writer to look at acknowledgements again, unless it has work queued anyway.</summary>
    public bool TryQueueWakeup() => _buffer.Writer.TryWrite(Delivery.Wakeup);

    /// <summary>Why the consumer ended, once it has; the writer stops at once then (nothing more can be acked).</summary>
    public StreamEndReason? EndReason => Volatile.Read(ref _endReason) is var r and >= 0 ? (StreamEndReason)r : null;

    /// <summary>Ends the consumer's side of the stream; the first reason wins.</summary>
    public void Complete(StreamEndReason reason)
    {
        Interlocked.CompareExchange(ref _endReason, (int)reason, -1);
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
        var delivery = new Delivery(deliveryTag, SseFraming.Frame(body.Span), MessageTimestamp.From(properties));
        // Fails only when the buffer is already completed: the stream is ending, its channel closes,
        // and the broker requeues this unacknowledged delivery.
        _ = _buffer.Writer.TryWrite(delivery);

        return Task.CompletedTask;
    }

    public Task HandleBasicCancelAsync(string consumerTag, CancellationToken cancellationToken = default)
    {
        Complete(StreamEndReason.ConsumerCancelled);
        return Task.CompletedTask;
    }

    public Task HandleChannelShutdownAsync(object channel, ShutdownEventArgs reason)
    {
        Complete(StreamEndReason.ChannelClosed);
        return Task.CompletedTask;
    }

    public Task HandleBasicCancelOkAsync(string consumerTag, CancellationToken cancellationToken = default) => Task.CompletedTask;

    public Task HandleBasicConsumeOkAsync(string consumerTag, CancellationToken cancellationToken = default) => Task.CompletedTask;
}
