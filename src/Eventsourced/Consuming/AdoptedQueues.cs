using System.Collections.Concurrent;

namespace Eventsourced.Consuming;

/// <summary>
/// The queues whose configured declare the broker refused for other arguments (406) while <c>queue.adopt_existing</c>
/// consumes them as they are. Their next subscribes look them up passively instead of declaring them again: each refused
/// declare is a channel error the broker logs at error level, and during a transition of <c>queue.expires</c> or
/// <c>queue.type</c> that was one error line (and a channel closed and opened) per subscribe. Bounded and expiring: an
/// entry goes after <see cref="Lifetime"/> (the next subscribe then declares as configured again, and learns whether the
/// queue still differs), or as soon as a passive look finds the queue gone, so that a queue declared again as
/// configured is treated as configured.
/// </summary>
internal sealed class AdoptedQueues(TimeProvider time, int capacity = AdoptedQueues.DefaultCapacity)
{
    /// <summary>At most this many names (about 10-30 MB at the most); past it, the others are declared as before.</summary>
    public const int DefaultCapacity = 50_000;

    /// <summary>How long a refusal is remembered: at most one refused declare per queue and this long.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(10);

    private static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<string, long> _refusedAt = new(StringComparer.Ordinal);
    private long _lastSweep = long.MinValue;

    public int Count => _refusedAt.Count;

    /// <summary>Whether the configured declare of <paramref name="queue"/> was refused within <see cref="Lifetime"/>.</summary>
    public bool Contains(string queue)
    {
        if (!_refusedAt.TryGetValue(queue, out var at))
        {
            return false;
        }

        if (time.GetElapsedTime(at) < Lifetime)
        {
            return true;
        }

        _refusedAt.TryRemove(new KeyValuePair<string, long>(queue, at));
        return false;
    }

    /// <summary>Remembers that the broker refused the configured declare of <paramref name="queue"/> (406).</summary>
    public void Add(string queue)
    {
        if (_refusedAt.Count >= capacity && !_refusedAt.ContainsKey(queue))
        {
            Sweep();
            if (_refusedAt.Count >= capacity)
            {
                return;
            }
        }

        _refusedAt[queue] = time.GetTimestamp();
    }

    /// <summary>Forgets <paramref name="queue"/>: it was found gone, so the next subscribe declares it as configured.</summary>
    public void Remove(string queue) => _refusedAt.TryRemove(queue, out _);

    private void Sweep()
    {
        // At most once a second: while the set is full of live entries, every refusal would otherwise scan it.
        var now = time.GetTimestamp();
        var last = Interlocked.Read(ref _lastSweep);
        if ((last != long.MinValue && time.GetElapsedTime(last, now) < SweepInterval) || Interlocked.CompareExchange(ref _lastSweep, now, last) != last)
        {
            return;
        }

        foreach (var (queue, at) in _refusedAt)
        {
            if (time.GetElapsedTime(at, now) >= Lifetime)
            {
                _refusedAt.TryRemove(new KeyValuePair<string, long>(queue, at));
            }
        }
    }
}
