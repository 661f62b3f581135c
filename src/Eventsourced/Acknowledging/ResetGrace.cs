namespace Eventsourced.Acknowledging;

/// <summary>
/// Positions of a stream that the client's TCP has acknowledged, taken as delivered only once the server has read every
/// byte the client had sent by the time the acknowledgement was seen, and the stream then stayed open for a grace: a
/// reset of the stream that the client sent before those acknowledgements is among those bytes, and Kestrel aborts the
/// stream when its frame reader gets to it, a moment after they are read from the connection
/// (<see cref="Sockets.Http2StreamAcknowledgements"/>). Once the stream is aborted, positions not yet confirmed never are.
/// </summary>
internal sealed class ResetGrace(TimeSpan grace, TimeProvider time)
{
    private const long NotYet = long.MinValue;

    private readonly List<Seen> _seen = new(4);
    private long _abortedAt = long.MaxValue;
    private long _latest;
    private long _confirmed;

    /// <summary>The stream was aborted (by its client's reset, or the connection's end): from now on nothing new is taken.</summary>
    public void Abort() => Interlocked.CompareExchange(ref _abortedAt, time.GetTimestamp(), long.MaxValue);

    /// <summary>
    /// Records <paramref name="acknowledged"/> (null: not known now) as seen now, when the kernel had received
    /// <paramref name="received"/> bytes from the client; <paramref name="read"/>: the client's bytes the server has read,
    /// taken before the kernel's counts. Answers the furthest position whose received bytes were read at least the grace
    /// before now (or before the abort). Called by one thread at a time.
    /// </summary>
    public long Confirmed(long? acknowledged, long received, long read)
    {
        var now = time.GetTimestamp();
        var abortedAt = Volatile.Read(ref _abortedAt);
        var aborted = abortedAt != long.MaxValue;
        if (acknowledged > _latest && !aborted)
        {
            _latest = acknowledged.Value;
            _seen.Add(new Seen(_latest, received, NotYet));
        }

        // Received counts only grow, so the entries read by now are a prefix; each is timed from the first look that found it read.
        for (var i = 0; i < _seen.Count && !aborted && _seen[i].Received <= read; i++)
        {
            if (_seen[i].ReadAt == NotYet)
            {
                _seen[i] = _seen[i] with { ReadAt = now };
            }
        }

        var until = Math.Min(now, abortedAt);
        var confirmed = 0;
        while (confirmed < _seen.Count && _seen[confirmed].ReadAt != NotYet && time.GetElapsedTime(_seen[confirmed].ReadAt, until) >= grace)
        {
            _confirmed = _seen[confirmed].Position;
            confirmed++;
        }

        _seen.RemoveRange(0, confirmed);
        if (aborted)
        {
            _seen.Clear();
        }

        return _confirmed;
    }

    private readonly record struct Seen(long Position, long Received, long ReadAt);
}
