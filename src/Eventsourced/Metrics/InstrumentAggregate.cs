using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Eventsourced.Metrics;

/// <summary>The running state of one instrument: one <see cref="SeriesAggregate"/> per distinct tag set.</summary>
internal sealed class InstrumentAggregate
{
    /// <summary>A guard against unbounded tag values: further tag sets of an instrument are dropped.</summary>
    public const int MaxSeries = 1000;

    /// <summary>Prometheus' client default, for histograms without advised boundaries.</summary>
    public static readonly double[] DefaultBounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    /// <summary>
    /// Current values that the runtime publishes as observable counters although they go down too
    /// (semantic conventions: up-down counters). Exposed as gauges: a counter that drops reads as a reset.
    /// </summary>
    private static readonly HashSet<(string Meter, string Instrument)> MistypedCounters =
    [
        (MetricsCollector.RuntimeMeterName, "dotnet.thread_pool.thread.count"),
        (MetricsCollector.RuntimeMeterName, "dotnet.thread_pool.queue.length"),
    ];

    private readonly ConcurrentDictionary<string, SeriesAggregate> _series = new(StringComparer.Ordinal);
    private readonly SeriesAggregate _untagged;

    private InstrumentAggregate(Instrument instrument, MetricType type, AggregationKind kind, double[] bounds)
    {
        Instrument = instrument;
        Type = type;
        Kind = kind;
        Bounds = bounds;
        _untagged = new SeriesAggregate([], bounds.Length);
    }

    public Instrument Instrument { get; }

    public MetricType Type { get; }

    public AggregationKind Kind { get; }

    /// <summary>Histogram bucket upper bounds, ascending; empty for other types.</summary>
    public double[] Bounds { get; }

    /// <summary>Null for instrument kinds the exposition does not know.</summary>
    public static InstrumentAggregate? TryCreate(Instrument instrument)
    {
        var type = instrument.GetType();
        var definition = type.IsGenericType ? type.GetGenericTypeDefinition() : null;
        (MetricType Type, AggregationKind Kind)? shape =
            definition == typeof(Counter<>) ? (MetricType.Counter, AggregationKind.Sum)
            : definition == typeof(ObservableCounter<>) && MistypedCounters.Contains((instrument.Meter.Name, instrument.Name)) ? (MetricType.Gauge, AggregationKind.Observed)
            : definition == typeof(ObservableCounter<>) ? (MetricType.Counter, AggregationKind.Observed)
            : definition == typeof(UpDownCounter<>) ? (MetricType.Gauge, AggregationKind.Sum)
            : definition == typeof(ObservableUpDownCounter<>) ? (MetricType.Gauge, AggregationKind.Observed)
            : definition == typeof(ObservableGauge<>) ? (MetricType.Gauge, AggregationKind.Observed)
            : definition == typeof(Gauge<>) ? (MetricType.Gauge, AggregationKind.Last)
            : definition == typeof(Histogram<>) ? (MetricType.Histogram, AggregationKind.Buckets)
            : null;
        if (shape is not { } known)
        {
            return null;
        }

        var bounds = known.Type == MetricType.Histogram ? Normalize(AdvisedBounds(instrument)) ?? DefaultBounds : [];
        return new InstrumentAggregate(instrument, known.Type, known.Kind, bounds);
    }

    public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags, long generation)
    {
        if (double.IsNaN(value) || (Type == MetricType.Counter && Kind == AggregationKind.Sum && value < 0))
        {
            return; // counters only go up; NaN would poison a sum
        }

        if (Find(tags) is not { } series)
        {
            return;
        }

        switch (Kind)
        {
            case AggregationKind.Sum:
                series.Add(value);
                break;
            case AggregationKind.Buckets:
                series.Observe(value, Bounds);
                break;
            default:
                series.Set(value, generation);
                break;
        }
    }

    /// <summary>Every series with a value, keyed by its label set. Observed series count only when this collection observed them.</summary>
    public IEnumerable<KeyValuePair<string, MetricPoint>> Snapshot(long generation)
    {
        foreach (var (key, series) in _series.Append(KeyValuePair.Create(string.Empty, _untagged)))
        {
            if (series.Snapshot(Type, Bounds, Kind == AggregationKind.Observed ? generation : null) is { } point)
            {
                yield return KeyValuePair.Create(key, point);
            }
        }
    }

    private SeriesAggregate? Find(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.Length == 0)
        {
            return _untagged;
        }

        var labels = new KeyValuePair<string, string>[tags.Length];
        for (var i = 0; i < tags.Length; i++)
        {
            labels[i] = KeyValuePair.Create(PrometheusNaming.LabelName(tags[i].Key), Format(tags[i].Value));
        }

        if (labels.Length > 1)
        {
            Array.Sort(labels, static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        }

        var key = Key(labels);
        if (_series.TryGetValue(key, out var series))
        {
            return series;
        }

        return _series.Count >= MaxSeries ? null : _series.GetOrAdd(key, static (_, state) => new SeriesAggregate(state.labels, state.buckets), (labels, buckets: Bounds.Length));
    }

    private static string Key(KeyValuePair<string, string>[] labels)
    {
        if (labels.Length == 1)
        {
            return labels[0].Key + "\u0002" + labels[0].Value;
        }

        var builder = new StringBuilder();
        foreach (var (name, value) in labels)
        {
            builder.Append(name).Append('\u0002').Append(value).Append('\u0001');
        }

        return builder.ToString();
    }

    private static string Format(object? value) => value switch
    {
        null => string.Empty,
        string text => text,
        bool flag => flag ? "true" : "false",
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? string.Empty,
    };

    private static IEnumerable<double>? AdvisedBounds(Instrument instrument) => instrument switch
    {
        Instrument<double> d => d.Advice?.HistogramBucketBoundaries,
        Instrument<float> f => f.Advice?.HistogramBucketBoundaries?.Select(x => (double)x),
        Instrument<long> l => l.Advice?.HistogramBucketBoundaries?.Select(x => (double)x),
        Instrument<int> i => i.Advice?.HistogramBucketBoundaries?.Select(x => (double)x),
        Instrument<short> s => s.Advice?.HistogramBucketBoundaries?.Select(x => (double)x),
        Instrument<byte> b => b.Advice?.HistogramBucketBoundaries?.Select(x => (double)x),
        Instrument<decimal> m => m.Advice?.HistogramBucketBoundaries?.Select(x => (double)x),
        _ => null,
    };

    /// <summary>Finite, distinct, ascending; null when nothing is left.</summary>
    private static double[]? Normalize(IEnumerable<double>? bounds)
    {
        var normalized = bounds?.Where(double.IsFinite).Distinct().Order().ToArray();
        return normalized is { Length: > 0 } ? normalized : null;
    }
}

/// <summary>How an instrument's measurements combine.</summary>
internal enum AggregationKind
{
    /// <summary>Counter, UpDownCounter: measurements are increments.</summary>
    Sum,

    /// <summary>Observable instruments: each poll reports the current value (a total for observable counters).</summary>
    Observed,

    /// <summary>Gauge: the last value recorded.</summary>
    Last,

    /// <summary>Histogram.</summary>
    Buckets,
}
