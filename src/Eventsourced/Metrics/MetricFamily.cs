namespace Eventsourced.Metrics;

/// <summary>The Prometheus metric types the exposition uses.</summary>
internal enum MetricType
{
    Counter,
    Gauge,
    Histogram,
}

/// <summary>
/// One metric family of a scrape: a name, a type, a help text and its points. This snapshot is all that
/// <see cref="PrometheusTextFormat"/> needs, so the formatter can be tested without any instrument.
/// </summary>
internal sealed record MetricFamily(string Name, MetricType Type, string Help, IReadOnlyList<MetricPoint> Points);

/// <summary>
/// One labelled series of a family. Counters and gauges carry <see cref="Value"/>; histograms carry
/// <see cref="Histogram"/>. Label names are already valid Prometheus label names.
/// </summary>
internal sealed record MetricPoint(IReadOnlyList<KeyValuePair<string, string>> Labels, double Value, HistogramValue? Histogram = null);

/// <summary>
/// A histogram's state: <see cref="BucketCounts"/> holds the count of each bucket on its own (not
/// cumulative), one per upper bound in ascending order plus a last one for values above every bound.
/// </summary>
internal sealed record HistogramValue(IReadOnlyList<double> UpperBounds, IReadOnlyList<long> BucketCounts, double Sum)
{
    public long Count => BucketCounts.Sum();
}
