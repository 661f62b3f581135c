namespace Eventsourced.Streaming;

/// <summary>
/// Decides when flushed deliveries may be acknowledged to the broker. A flush hands bytes to the
/// kernel, not to the client: they are acknowledged only once the connection's send queue has been
/// seen empty (the client's TCP has acknowledged every byte) at least <see cref="Settle"/> after the
/// flush, which also covers the moment between a flush and the transport's write to the socket.
/// Without a send queue to look at (HTTP/2, not Linux), a flush is taken as delivery. A send queue that
/// cannot be read (the socket is closed) acknowledges nothing: the broker requeues instead.
/// </summary>
internal sealed class AckGate(Func<int?>? unacknowledgedBytes, TimeProvider time)
{
    public static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(1);
    public static readonly TimeSpan MaxCheckDelay = TimeSpan.FromMilliseconds(100);

    private readonly Queue<(ulong Tag, long FlushedAt)> _pending = new(4);
    private TimeSpan _checkDelay = Settle;

    /// <summary>Flushed deliveries wait for the client's TCP acknowledgement.</summary>
    public bool HasPending => _pending.Count > 0;

    /// <summary>When to look again while deliveries wait: doubles while the peer lags, up to <see cref="MaxCheckDelay"/>.</summary>
    public TimeSpan NextCheck => _checkDelay;

    /// <summary>Every delivery up to <paramref name="tag"/> has been flushed.</summary>
    public void Flushed(ulong tag) => _pending.Enqueue((tag, time.GetTimestamp()));

    /// <summary>The highest delivery tag that may be acknowledged now (with multiple), or 0 for none.</summary>
    public ulong TakeAcknowledgeable()
    {
        if (_pending.Count == 0)
        {
            return 0;
        }

        if (unacknowledgedBytes is not null && unacknowledgedBytes() != 0)
        {
            _checkDelay = TimeSpan.FromTicks(Math.Min(_checkDelay.Ticks * 2, MaxCheckDelay.Ticks));
            return 0;
        }

        ulong tag = 0;
        while (_pending.TryPeek(out var flushed) && (unacknowledgedBytes is null || time.GetElapsedTime(flushed.FlushedAt) >= Settle))
        {
            tag = flushed.Tag;
            _pending.Dequeue();
        }

        if (tag != 0)
        {
            _checkDelay = Settle;
        }

        return tag;
    }
}
