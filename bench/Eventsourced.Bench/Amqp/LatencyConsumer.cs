using System.Diagnostics;
using Eventsourced.Bench.Measure;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Eventsourced.Bench.Amqp;

/// <summary>
/// The live baseline: a plain consumer on its own channel that records publish-to-consumer latency of each
/// payload and checks its order, acking each message at once. What the broker and client library alone cost.
/// </summary>
internal sealed class LatencyConsumer : IAsyncBasicConsumer
{
    private readonly PhasedLatencies _latencies;
    private readonly Action _onMessage;

    public LatencyConsumer(IChannel channel, int index, PhasedLatencies latencies, Action onMessage)
    {
        Channel = channel;
        Index = index;
        _latencies = latencies;
        _onMessage = onMessage;
    }

    public IChannel Channel { get; }

    public int Index { get; }

    public long NextSeq { get; private set; }

    public long Wrong { get; private set; }

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
        var now = Stopwatch.GetTimestamp();
        if (Payload.TryRead(body.Span, out var queue, out var seq, out var stamp) && queue == Index && seq == NextSeq)
        {
            NextSeq++;
            _latencies.Record(queue, seq, stamp, now);
        }
        else
        {
            Wrong++;
        }

        _onMessage();
        await Channel.BasicAckAsync(deliveryTag, multiple: false, cancellationToken);
    }

    public Task HandleBasicCancelAsync(string consumerTag, CancellationToken cancellationToken = default) => Task.CompletedTask;

    public Task HandleBasicCancelOkAsync(string consumerTag, CancellationToken cancellationToken = default) => Task.CompletedTask;

    public Task HandleBasicConsumeOkAsync(string consumerTag, CancellationToken cancellationToken = default) => Task.CompletedTask;

    public Task HandleChannelShutdownAsync(object channel, ShutdownEventArgs reason) => Task.CompletedTask;
}
