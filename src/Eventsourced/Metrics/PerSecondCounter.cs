namespace Eventsourced.Metrics;

/// <summary>
/// Counts events per whole second of <see cref="TimeProvider"/>'s monotonic clock and tells how many fell in
/// the last complete second (expvar's "deliveries in the last second").
/// </summary>
internal sealed class PerSecondCounter(TimeProvider time)
{
    private readonly Lock _lock = new();
    private long _second = long.MinValue;
    private long _current;
    private long _previous;

    public void Add(long count)
    {
        lock (_lock)
        {
            Roll();
            _current += count;
        }
    }

    /// <summary>The count of the second before the current one (zero if nothing happened then).</summary>
    public long LastSecond
    {
        get
        {
            lock (_lock)
            {
                Roll();
                return _previous;
            }
        }
    }

    private void Roll()
    {
        var now = time.GetTimestamp() / time.TimestampFrequency;
        if (now == _second)
        {
            return;
        }

        _previous = now == _second + 1 ? _current : 0;
        _current = 0;
        _second = now;
    }
}
