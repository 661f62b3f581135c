namespace Eventsourced.Metrics;

/// <summary>
/// What <c>metrics.path</c> serves. The gateway's own is <see cref="PrometheusExposition"/> (a
/// <see cref="System.Diagnostics.Metrics.MeterListener"/> and a small text formatter); register another
/// implementation before <c>AddEventsourced</c> (or replace this one) to serve, say, prometheus-net's registry.
/// </summary>
public interface IMetricsExposition
{
    /// <summary>The response's <c>Content-Type</c>.</summary>
    string ContentType { get; }

    /// <summary>Writes one complete scrape to <paramref name="destination"/>.</summary>
    Task WriteAsync(Stream destination, CancellationToken cancellationToken = default);
}
