namespace Eventsourced.Acknowledging;

/// <summary>
/// Decides when flushed deliveries may be acknowledged to the broker. A flush hands bytes to the
/// kernel, not to the client: a delivery is acknowledged only once the client's TCP has acknowledged
/// every byte of the connection up to where its flush ended. Each flush is judged on its own, so
/// while newer bytes are still on their way the older ones are acknowledged. Without TCP
/// acknowledgements to look at (not Linux, HTTP/2 over a listener the gateway did not set up), a flush is taken as delivery. A connection that
/// can no longer tell (its socket is closed) acknowledges nothing: the broker requeues instead.
/// </summary>
internal sealed class AckGate(Func<long?>? acknowledgedBytes)
{
    public static readonly TimeSpan FirstCheck = TimeSpan.FromMilliseconds(1);
    public static readonly TimeSpan MaxCheckDelay = TimeSpan.FromMilliseconds(100);

    private readonly Queue<(ulong Tag, long Position, int Messages)> _pending = new(4);
    private TimeSpan _checkDelay = FirstCheck;
    private bool _flushedSinceCheck;
    private int _pendingMessages;

    /// <summary>Flushed deliveries wait for the client's TCP acknowledgement.</summary>
    public bool HasPending => _pending.Count > 0;

    /// <summary>The messages of the flushed deliveries that wait (what goes back to the queue if the stream ends now).</summary>
    public int PendingMessages => _pendingMessages;

    /// <summary>When to look again while deliveries wait: doubles while the peer acknowledges nothing new, up to <see cref="MaxCheckDelay"/>.</summary>
    public TimeSpan NextCheck => _checkDelay;

    /// <summary>
    /// Every delivery up to <paramref name="tag"/> has been flushed, its bytes ending at <paramref name="position"/> of the
    /// connection; <paramref name="messages"/> of them were flushed since the last call.
    /// </summary>
    public void Flushed(ulong tag, long position, int messages)
    {
        _pending.Enqueue((tag, position, messages));
        _pendingMessages += messages;
        _flushedSinceCheck = true;
    }

    /// <summary>The highest delivery tag that may be acknowledged now (with multiple), or 0 for none.</summary>
    public ulong TakeAcknowledgeable() => TakeAcknowledgeable(out _);

    /// <summary>As <see cref="TakeAcknowledgeable()"/>; <paramref name="messages"/>: how many messages the tag covers.</summary>
    public ulong TakeAcknowledgeable(out int messages)
    {
        messages = 0;
        if (_pending.Count == 0)
        {
            return 0;
        }

        var acknowledged = acknowledgedBytes is null ? long.MaxValue : acknowledgedBytes() ?? long.MinValue;
        ulong tag = 0;
        while (_pending.TryPeek(out var flushed) && flushed.Position <= acknowledged)
        {
            tag = flushed.Tag;
            messages += flushed.Messages;
            _pending.Dequeue();
        }

        if (tag != 0)
        {
            _pendingMessages -= messages;
            _checkDelay = FirstCheck;
        }
        else if (!_flushedSinceCheck)
        {
            // Looked again after waiting and the peer acknowledged nothing new: it lags, wait longer.
            _checkDelay = TimeSpan.FromTicks(Math.Min(_checkDelay.Ticks * 2, MaxCheckDelay.Ticks));
        }

        _flushedSinceCheck = false;
        return tag;
    }
}
