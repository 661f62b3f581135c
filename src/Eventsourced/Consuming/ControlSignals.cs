using System.Threading.Channels;

namespace Eventsourced.Consuming;

/// <summary>
/// The control items of one subscription's buffer (<see cref="OutboundKind.Heartbeat"/>, <see cref="OutboundKind.Wakeup"/>):
/// at most one of each waits at a time, so a buffer sized for its messages plus two always has room for them. A
/// mutable struct kept as a field of the subscription (no object of its own per stream); call it on the field, never
/// on a copy.
/// </summary>
internal struct ControlSignals
{
    private int _heartbeatQueued;
    private int _wakeupQueued;

    /// <summary>Queues <paramref name="heartbeat"/>, unless a heartbeat waits already.</summary>
    public void QueueHeartbeat(ChannelWriter<OutboundItem> buffer, OutboundItem heartbeat) => QueueOnce(ref _heartbeatQueued, buffer, heartbeat);

    /// <summary>Wakes the writer to look at acknowledgements again, unless a wake-up waits already.</summary>
    public void QueueWakeup(ChannelWriter<OutboundItem> buffer) => QueueOnce(ref _wakeupQueued, buffer, OutboundItem.Wakeup);

    /// <summary>The writer took <paramref name="control"/> off the buffer: another of its kind may be queued.</summary>
    public void Taken(OutboundItem control)
    {
        switch (control.Kind)
        {
            case OutboundKind.Heartbeat:
                Volatile.Write(ref _heartbeatQueued, 0);
                break;
            case OutboundKind.Wakeup:
                Volatile.Write(ref _wakeupQueued, 0);
                break;
        }
    }

    private static void QueueOnce(ref int queued, ChannelWriter<OutboundItem> buffer, OutboundItem control)
    {
        if (Interlocked.Exchange(ref queued, 1) == 0 && !buffer.TryWrite(control))
        {
            Volatile.Write(ref queued, 0);
        }
    }
}
