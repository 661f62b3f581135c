using System.Text;

namespace Eventsourced.Metrics;

/// <summary>The gateway's <see cref="IMetricsExposition"/>: the collector's families in the Prometheus text format.</summary>
internal sealed class PrometheusExposition(MetricsCollector collector) : IMetricsExposition
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    public string ContentType => PrometheusTextFormat.ContentType;

    public async Task WriteAsync(Stream destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var text = PrometheusTextFormat.Write(collector.Collect());
        await destination.WriteAsync(Utf8.GetBytes(text), cancellationToken);
    }
}
