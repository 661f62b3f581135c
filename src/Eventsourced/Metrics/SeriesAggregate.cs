namespace Eventsourced.Metrics;

/// <summary>The value of one instrument for one tag set.</summary>
internal sealed class SeriesAggregate(KeyValuePair<string, string>[] labels, int bucketCount)
{
    private readonly Lock _lock = new();
    private readonly long[] _buckets = new long[bucketCount + 1];
    private double _value;
    private double _sum;
    private long _generation;
    private bool _recorded;

    public KeyValuePair<string, string>[] Labels { get; } = labels;

    public void Add(double increment)
    {
        lock (_lock)
        {
            _value += increment;
            _recorded = true;
        }
    }

    public void Set(double value, long generation)
    {
        lock (_lock)
        {
            _value = value;
            _generation = generation;
            _recorded = true;
        }
    }

    public void Observe(double value, double[] bounds)
    {
        // Prometheus buckets are "less than or equal": a value equal to a bound belongs to that bound's bucket.
        var index = Array.BinarySearch(bounds, value);
        var bucket = index >= 0 ? index : ~index;
        lock (_lock)
        {
            _buckets[bucket]++;
            _sum += value;
            _recorded = true;
        }
    }

    /// <summary>The point, or null if nothing was recorded (or, with <paramref name="generation"/>, not in that poll).</summary>
    public MetricPoint? Snapshot(MetricType type, double[] bounds, long? generation)
    {
        lock (_lock)
        {
            if (!_recorded || (generation is { } current && _generation != current))
            {
                return null;
            }

            return type == MetricType.Histogram
                ? new MetricPoint(Labels, 0, new HistogramValue(bounds, (long[])_buckets.Clone(), _sum))
                : new MetricPoint(Labels, _value);
        }
    }
}
