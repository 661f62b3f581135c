using System.Diagnostics;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Eventsourced.Bench.Amqp;

/// <summary>
/// The drain baseline: a plain RabbitMQ.Client consumer on its own channel, as a service would consume
/// the queue without the gateway. Manual acks, the gateway's prefetch, one multiple-ack per half prefetch
/// (and one for the last message), and the same checks on every payload as the SSE readers make.
/// </summary>
internal sealed class PlainConsumer : IAsyncBasicConsumer
{
    private readonly long _expected;
    private readonly int _ackEvery;
    private readonly Action<PlainConsumer> _onComplete;
    private int _sinceAck;
    private int _completed;
    private SequenceCheck _received;

    public PlainConsumer(IChannel channel, int index, long expected, int prefetch, Action<PlainConsumer> onComplete)
    {
        Channel = channel;
        Index = index;
        _expected = expected;
        _ackEvery = Math.Max(1, prefetch / 2);
        _onComplete = onComplete;
    }

    public IChannel Channel { get; }

    public int Index { get; }

    /// <summary>This queue's payloads so far, checked as the SSE streams check theirs.</summary>
    public SequenceCheck Received => _received;

    public long CompletedAt { get; private set; }

    public async Task HandleBasicDeliverAsync(
        string consumerTag,
        ulong deliveryTag,
        bool redelivered,
        string exchange,
        string routingKey,
        IReadOnlyBasicProperties properties,
        ReadOnlyMemory<byte> body,
        CancellationToken cancellationToken = default)
    {
        var valid = Payload.TryRead(body.Span, out var queue, out var seq, out _);
        _received.Observe(Index, valid, queue, seq);
        var last = _received.NextSeq >= _expected;
        if (++_sinceAck >= _ackEvery || last)
        {
            _sinceAck = 0;
            await Channel.BasicAckAsync(deliveryTag, multiple: true, cancellationToken);
        }

        if (last && Interlocked.Exchange(ref _completed, 1) == 0)
        {
            CompletedAt = Stopwatch.GetTimestamp();
            _onComplete(this);
        }
    }

    public Task HandleBasicCancelAsync(string consumerTag, CancellationToken cancellationToken = default) => Task.CompletedTask;

    public Task HandleBasicCancelOkAsync(string consumerTag, CancellationToken cancellationToken = default) => Task.CompletedTask;

    public Task HandleBasicConsumeOkAsync(string consumerTag, CancellationToken cancellationToken = default) => Task.CompletedTask;

    public Task HandleChannelShutdownAsync(object channel, ShutdownEventArgs reason) => Task.CompletedTask;
}
