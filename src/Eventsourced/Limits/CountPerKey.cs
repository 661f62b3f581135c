namespace Eventsourced.Limits;

/// <summary>
/// How many of something each key holds open, each at most a limit: the streams of <c>limits.streams_per_client</c>
/// (<see cref="ClientStreams"/>) and the connections of <c>limits.connections_per_client</c>
/// (<see cref="ClientConnections"/>), per client. A key is dropped when its count falls to zero, so the table holds
/// only the clients with something open.
/// </summary>
internal sealed class CountPerKey<TKey>(IEqualityComparer<TKey>? comparer = null)
    where TKey : notnull
{
    private readonly Dictionary<TKey, int> _open = new(comparer);
    private readonly Lock _lock = new();

    /// <summary>Keys holding at least one.</summary>
    public int Keys
    {
        get
        {
            lock (_lock)
            {
                return _open.Count;
            }
        }
    }

    /// <summary>How many <paramref name="key"/> holds.</summary>
    public int Of(TKey key)
    {
        lock (_lock)
        {
            return _open.GetValueOrDefault(key);
        }
    }

    /// <summary>Counts one more for <paramref name="key"/>; false (nothing counted) when it holds <paramref name="most"/> already.</summary>
    public bool TryAdd(TKey key, int most)
    {
        lock (_lock)
        {
            var open = _open.GetValueOrDefault(key);
            if (open >= most)
            {
                return false;
            }

            _open[key] = open + 1;
            return true;
        }
    }

    /// <summary>One of <paramref name="key"/>'s ended.</summary>
    public void Remove(TKey key)
    {
        lock (_lock)
        {
            if (_open.TryGetValue(key, out var open))
            {
                if (open <= 1)
                {
                    _open.Remove(key);
                }
                else
                {
                    _open[key] = open - 1;
                }
            }
        }
    }
}
