namespace Eventsourced.Acknowledging;

/// <summary>
/// Positions of a stream that the client's TCP has acknowledged, taken as delivered only once the stream stayed open for
/// a grace after they were seen: a stream reset that the client sent before those acknowledgements may still be on its
/// way through the server (<see cref="Sockets.Http2StreamAcknowledgements"/>). Once the stream is aborted, positions seen
/// less than the grace before it never count.
/// </summary>
internal sealed class ResetGrace(TimeSpan grace, TimeProvider time)
{
    private readonly Queue<(long At, long Position)> _seen = new(4);
    private long _abortedAt = long.MaxValue;
    private long _latest;
    private long _confirmed;

    /// <summary>The stream was aborted (by its client's reset, or the connection's end): from now on nothing new is taken.</summary>
    public void Abort() => Interlocked.CompareExchange(ref _abortedAt, time.GetTimestamp(), long.MaxValue);

    /// <summary>
    /// Records <paramref name="acknowledged"/> (null: not known now) as seen now, and answers the furthest position
    /// seen at least the grace before now, or before the abort. Called by one thread at a time.
    /// </summary>
    public long Confirmed(long? acknowledged)
    {
        var now = time.GetTimestamp();
        var abortedAt = Volatile.Read(ref _abortedAt);
        if (acknowledged > _latest && abortedAt == long.MaxValue)
        {
            _latest = acknowledged.Value;
            _seen.Enqueue((now, _latest));
        }

        var until = Math.Min(now, abortedAt);
        while (_seen.TryPeek(out var seen) && time.GetElapsedTime(seen.At, until) >= grace)
        {
            _confirmed = seen.Position;
            _seen.Dequeue();
        }

        return _confirmed;
    }
}
