using System.IO.Pipelines;
using Eventsourced.Consuming;
using Eventsourced.Sockets;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Acknowledging;

/// <summary>
/// A transport's rule for acknowledging to the broker without the client's word: what was flushed is
/// acknowledged once the client's TCP has acknowledged its bytes (<see cref="AckGate"/> over
/// <see cref="TcpAcknowledgements"/>). The SSE writer and the WebSocket session without client
/// acknowledgements share it. The transport calls <see cref="Flushed"/> after each flush and
/// <see cref="AcknowledgeAsync"/> on every turn of its loop; while flushed deliveries wait for the
/// peer, a timer wakes the transport's writer (<see cref="ISubscription.QueueWakeup"/>) to look again.
/// </summary>
internal sealed class TcpDeliveryAcks : IDisposable
{
    /// <summary>How long a subscription that ends waits for the client's TCP to acknowledge what it was sent last.</summary>
    public static readonly TimeSpan FinalWait = TimeSpan.FromMilliseconds(100);

    private readonly ISubscription _subscription;
    private readonly TimeProvider _time;
    private readonly TcpAcknowledgements? _tcp;
    private readonly AckGate _acks;
    private readonly ITimer _check;

    public TcpDeliveryAcks(HttpContext context, ISubscription subscription, TimeProvider time)
    {
        _subscription = subscription;
        _time = time;
        _tcp = TcpAcknowledgements.For(context, time);
        _acks = new AckGate(_tcp is null ? null : _tcp.Acknowledged);
        // Made with the rest of the subscription's state, rather than by its first message: objects a
        // subscription creates late are young objects referenced from old ones, which every collection scans.
        _check = time.CreateTimer(
            static s => ((ISubscription)s!).QueueWakeup(), subscription, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The response body's writer, through which the stream writes so that its bytes are counted (an HTTP/2 stream's are).</summary>
    public PipeWriter CountWrites(PipeWriter writer) => _tcp?.CountWrites(writer) ?? writer;

    /// <summary>Every delivery up to <paramref name="lastTag"/> has just been flushed to the connection, <paramref name="messages"/> of them by this flush.</summary>
    /// <param name="written">Where the connection's bytes end after the flush, when they were not all written by Kestrel (<see cref="DirectChunkWriter.Written"/>).</param>
    public void Flushed(ulong lastTag, int messages, long? written = null) => _acks.Flushed(lastTag, written ?? _tcp?.Written ?? 0, messages);

    /// <summary>
    /// Acknowledges what the client's TCP has received; looks again later for what it has not yet. Not cancelled by the
    /// client's leaving: the deliveries are taken off the pending ones here, and an acknowledgement given up half way (the
    /// stream's token fired as the client closed right after its message came) left them neither acknowledged nor
    /// pending, so they went back to the queue and the client got them again.
    /// </summary>
    public ValueTask AcknowledgeAsync()
    {
        if (!_acks.HasPending)
        {
            return ValueTask.CompletedTask;
        }

        var tag = _acks.TakeAcknowledgeable();
        if (_acks.HasPending)
        {
            _check.Change(_acks.NextCheck, Timeout.InfiniteTimeSpan);
        }

        return tag == 0 ? ValueTask.CompletedTask : _subscription.AcknowledgeAsync(tag, multiple: true, CancellationToken.None);
    }

    /// <summary>
    /// At the end of a subscription: what the client's TCP acknowledges within <see cref="FinalWait"/> is
    /// acknowledged to the broker; everything else goes back to the queue when the channel closes. Returns how many
    /// flushed messages go back so (counted delivered when flushed: the caller counts them requeued too).
    /// </summary>
    public async Task<int> AcknowledgeLastAsync()
    {
        _check.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        if (!_acks.HasPending || _subscription.EndReason is not null)
        {
            return _acks.PendingMessages;
        }

        var taken = 0;
        try
        {
            var tag = _acks.TakeAcknowledgeable(out taken);
            var waited = TimeSpan.Zero;
            for (var delay = AckGate.FirstCheck; _acks.HasPending && waited < FinalWait; delay *= 2)
            {
                await Task.Delay(delay, _time);
                waited += delay;
                tag = Math.Max(tag, _acks.TakeAcknowledgeable(out var more));
                taken += more;
            }

            if (tag != 0)
            {
                await _subscription.AcknowledgeAsync(tag, multiple: true);
            }

            return _acks.PendingMessages;
        }
        catch (Exception ex) when (ex is RabbitMQ.Client.Exceptions.AlreadyClosedException or RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            // The channel is gone: the broker requeues what was not acknowledged, the taken ones with it.
            return _acks.PendingMessages + taken;
        }
    }

    public void Dispose()
    {
        _check.Dispose();
        _tcp?.Dispose();
    }
}
