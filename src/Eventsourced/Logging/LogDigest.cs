namespace Eventsourced.Logging;

/// <summary>
/// Keeps an event that can repeat thousands of times a second (every subscriber refused during an outage) from
/// flooding the log: per key (the event's reason), the first occurrence is written at once, and then at most one
/// line per <c>interval</c> says how many more there were. A key quiet for a whole interval starts over. At most
/// <see cref="MaxKeys"/> keys are tracked; occurrences beyond them share one key.
/// </summary>
internal sealed class LogDigest : IDisposable
{
    public const int MaxKeys = 100;

    /// <summary>How often the gateway's refusals that repeat are summed up (README, "Logs": once per reason and 10 s).</summary>
    public static readonly TimeSpan RefusalInterval = TimeSpan.FromSeconds(10);
    private const string OtherKey = "(other reasons)";

    private readonly Action<string> _first;
    private readonly Action<string, int, TimeSpan> _repeated;
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;
    private readonly Dictionary<string, Tally> _tallies = new(StringComparer.Ordinal);
    private readonly ITimer _timer;
    private bool _timerRunning;
    private bool _disposed;

    /// <param name="first">Writes the first occurrence of a key.</param>
    /// <param name="repeated">Writes how many more occurrences of a key there were, and over how long.</param>
    public LogDigest(TimeSpan interval, TimeProvider time, Action<string> first, Action<string, int, TimeSpan> repeated)
    {
        _interval = interval;
        _time = time;
        _first = first;
        _repeated = repeated;
        _timer = time.CreateTimer(static s => ((LogDigest)s!).Flush(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    public void Add(string key)
    {
        bool first;
        lock (_tallies)
        {
            if (_disposed)
            {
                return;
            }

            if (!_tallies.TryGetValue(key, out var tally) && _tallies.Count >= MaxKeys && !_tallies.TryGetValue(key = OtherKey, out tally))
            {
                tally = null;
            }

            first = tally is null;
            if (tally is null)
            {
                _tallies[key] = new Tally(_time.GetTimestamp());
            }
            else
            {
                tally.Count++;
            }

            if (!_timerRunning)
            {
                _timerRunning = true;
                _timer.Change(_interval, _interval);
            }
        }

        if (first)
        {
            _first(key);
        }
    }

    /// <summary>Writes what was counted and not yet written; keys that were quiet since the last flush are forgotten.</summary>
    public void Flush()
    {
        List<(string Key, int Count, TimeSpan Over)> lines = [];
        lock (_tallies)
        {
            foreach (var (key, tally) in _tallies.ToList())
            {
                if (tally.Count == 0)
                {
                    _tallies.Remove(key);
                    continue;
                }

                lines.Add((key, tally.Count, _time.GetElapsedTime(tally.Since)));
                _tallies[key] = new Tally(_time.GetTimestamp());
            }

            if (_tallies.Count == 0 && _timerRunning)
            {
                _timerRunning = false;
                _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }
        }

        foreach (var (key, count, over) in lines)
        {
            _repeated(key, count, over);
        }
    }

    /// <summary>Writes what is pending and stops.</summary>
    public void Dispose()
    {
        Flush();
        lock (_tallies)
        {
            _disposed = true;
        }

        _timer.Dispose();
    }

    private sealed class Tally(long since)
    {
        public long Since { get; } = since;

        public int Count { get; set; }
    }
}
