using System.Diagnostics;

namespace Eventsourced.Bench.Measure;

/// <summary>Latency samples (Stopwatch ticks) recorded from many threads into one preallocated array.</summary>
internal sealed class LatencyRecorder
{
    private readonly long[] _samples;
    private readonly long[] _sentAt;
    private int _count;

    public LatencyRecorder(int capacity)
    {
        _samples = new long[capacity];
        _sentAt = new long[capacity];
    }

    public int Count => Math.Min(Volatile.Read(ref _count), _samples.Length);

    /// <summary>Records one message: sent at <paramref name="sentAt"/>, parsed at <paramref name="receivedAt"/> (Stopwatch timestamps).</summary>
    public void Record(long sentAt, long receivedAt)
    {
        var i = Interlocked.Increment(ref _count) - 1;
        if (i < _samples.Length)
        {
            _samples[i] = receivedAt - sentAt;
            _sentAt[i] = sentAt;
        }
    }

    /// <summary>
    /// The worst seconds of the run (by when the messages were sent, from <paramref name="start"/>): each as
    /// "second: p99 / max / messages over the threshold". Shows whether slow messages come in bursts (pauses).
    /// </summary>
    public IReadOnlyList<string> WorstSeconds(long start, double thresholdMs, int top)
    {
        var n = Count;
        var threshold = (long)(thresholdMs * Stopwatch.Frequency / 1000);
        var seconds = Enumerable.Range(0, n)
            .GroupBy(i => (_sentAt[i] - start) / Stopwatch.Frequency)
            .Select(g =>
            {
                var sorted = g.Select(i => _samples[i]).Order().ToArray();
                var p99 = NearestRank.Of(sorted, 0.99);
                return (Second: g.Key, P99: p99, Max: sorted[^1], Over: sorted.Count(x => x > threshold), Count: sorted.Length);
            })
            .Where(s => s.Over > 0)
            .ToArray();
        var summary = $"{seconds.Length} of {(n == 0 ? 0 : ((_sentAt.AsSpan(0, n).ToArray().Max() - start) / Stopwatch.Frequency) + 1)} seconds had messages over {thresholdMs} ms" +
            (seconds.Length == 0 ? "" : $": {string.Join(" ", seconds.OrderBy(s => s.Second).Select(s => $"{s.Second}s:{s.Over}"))}");
        return seconds
            .OrderByDescending(s => s.Over)
            .Take(top)
            .OrderBy(s => s.Second)
            .Select(s => $"t={s.Second}s: p99 {Ms(s.P99):F0} ms, max {Ms(s.Max):F0} ms, {s.Over}/{s.Count} over {thresholdMs} ms")
            .Prepend(summary)
            .ToArray();
    }

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    /// <summary>Every sample in milliseconds, in the order recorded.</summary>
    public double[] SamplesMs() => _samples.AsSpan(0, Count).ToArray().Select(t => t * 1000.0 / Stopwatch.Frequency).ToArray();

    /// <summary>Nearest-rank percentiles in milliseconds, e.g. (0.5, 0.99, 1.0) for p50, p99 and max.</summary>
    public double[] PercentilesMs(params double[] quantiles)
    {
        var n = Count;
        if (n == 0)
        {
            return quantiles.Select(_ => double.NaN).ToArray();
        }

        var sorted = _samples.AsSpan(0, n).ToArray();
        Array.Sort(sorted);
        return quantiles
            .Select(q => NearestRank.Of(sorted, q) * 1000.0 / Stopwatch.Frequency)
            .ToArray();
    }
}
