namespace Eventsourced.Topics;

/// <summary>
/// The latest events of a topic, oldest first, at most <c>capacity</c> of them and about <c>maxBytes</c> (each
/// counted with the frames it had when added): what a
/// subscriber that resumes from a recent id reads instead of the stream. Offsets only grow. Not thread-safe (the
/// feed's lock guards it).
/// </summary>
internal sealed class TopicRing(int capacity, long maxBytes)
{
    private readonly TopicEvent[] _events = new TopicEvent[Math.Max(1, capacity)];
    private readonly long[] _sizes = new long[Math.Max(1, capacity)];
    private int _start;
    private long _bytes;

    public int Count { get; private set; }

    public TopicEvent this[int index] => _events[(_start + index) % _events.Length];

    /// <summary>The oldest event's offset; only meaningful when <see cref="Count"/> is not 0.</summary>
    public long FirstOffset => this[0].Offset;

    public void Add(TopicEvent topicEvent)
    {
        if (capacity == 0)
        {
            return;
        }

        if (Count == _events.Length)
        {
            RemoveOldest();
        }

        var slot = (_start + Count) % _events.Length;
        _events[slot] = topicEvent;
        _sizes[slot] = topicEvent.Size;
        Count++;
        _bytes += _sizes[slot];
        while (_bytes > maxBytes && Count > 1)
        {
            RemoveOldest();
        }
    }

    /// <summary>The index of the first event whose offset is at least <paramref name="offset"/>; <see cref="Count"/> when none is.</summary>
    public int IndexAtOrAfter(long offset)
    {
        int low = 0, high = Count;
        while (low < high)
        {
            var middle = (low + high) >>> 1;
            if (this[middle].Offset < offset)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }

        return low;
    }

    private void RemoveOldest()
    {
        _bytes -= _sizes[_start];
        _events[_start] = null!;
        _start = (_start + 1) % _events.Length;
        Count--;
    }
}
