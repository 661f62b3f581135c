using System.Globalization;
using System.Text;

namespace Eventsourced.Metrics;

/// <summary>
/// The Prometheus text exposition format, version 0.0.4: families sorted by name, each with one
/// <c># HELP</c> and one <c># TYPE</c> line before its samples, samples sorted by their labels, histograms as
/// cumulative <c>_bucket{le="..."}</c> series ending in <c>le="+Inf"</c> (equal to <c>_count</c>), then
/// <c>_sum</c> and <c>_count</c>. Label values escape <c>\</c>, <c>"</c> and newlines; help texts escape
/// <c>\</c> and newlines.
/// </summary>
internal static class PrometheusTextFormat
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    public static string Write(IEnumerable<MetricFamily> families)
    {
        var builder = new StringBuilder(16 * 1024);
        Write(builder, families);
        return builder.ToString();
    }

    public static void Write(StringBuilder output, IEnumerable<MetricFamily> families)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(families);
        foreach (var family in families.OrderBy(f => f.Name, StringComparer.Ordinal))
        {
            if (family.Points.Count == 0)
            {
                continue;
            }

            output.Append("# HELP ").Append(family.Name).Append(' ').Append(EscapeHelp(family.Help)).Append('\n');
            output.Append("# TYPE ").Append(family.Name).Append(' ').Append(TypeName(family.Type)).Append('\n');
            foreach (var point in family.Points.OrderBy(p => LabelKey(p.Labels), StringComparer.Ordinal))
            {
                if (family.Type == MetricType.Histogram)
                {
                    WriteHistogram(output, family.Name, point);
                }
                else
                {
                    WriteSample(output, family.Name, point.Labels, null, point.Value);
                }
            }
        }
    }

    /// <summary>A sample value as Prometheus parses it: shortest round-trip form, <c>+Inf</c>, <c>-Inf</c>, <c>NaN</c>.</summary>
    public static string FormatValue(double value) => value switch
    {
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        _ when double.IsNaN(value) => "NaN",
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };

    public static string EscapeLabelValue(string value)
    {
        if (value.AsSpan().IndexOfAny('\\', '"', '\n') < 0)
        {
            return value;
        }

        return value.Replace("\\", "\\\\", StringComparison.Ordinal)
            .Replace("\"", "\\\"", StringComparison.Ordinal)
            .Replace("\n", "\\n", StringComparison.Ordinal);
    }

    public static string EscapeHelp(string help) =>
        help.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static void WriteHistogram(StringBuilder output, string name, MetricPoint point)
    {
        var histogram = point.Histogram ?? new HistogramValue([], [0], 0);
        long cumulative = 0;
        for (var i = 0; i < histogram.UpperBounds.Count; i++)
        {
            cumulative += histogram.BucketCounts[i];
            WriteSample(output, name + "_bucket", point.Labels, FormatValue(histogram.UpperBounds[i]), cumulative);
        }

        // The overflow bucket: +Inf is the total, which _count repeats.
        for (var i = histogram.UpperBounds.Count; i < histogram.BucketCounts.Count; i++)
        {
            cumulative += histogram.BucketCounts[i];
        }

        WriteSample(output, name + "_bucket", point.Labels, "+Inf", cumulative);
        WriteSample(output, name + "_sum", point.Labels, null, histogram.Sum);
        WriteSample(output, name + "_count", point.Labels, null, cumulative);
    }

    private static void WriteSample(StringBuilder output, string name, IReadOnlyList<KeyValuePair<string, string>> labels, string? le, double value)
    {
        output.Append(name);
        if (labels.Count > 0 || le is not null)
        {
            output.Append('{');
            var first = true;
            foreach (var (label, text) in labels)
            {
                if (!first)
                {
                    output.Append(',');
                }

                first = false;
                output.Append(label).Append("=\"").Append(EscapeLabelValue(text)).Append('"');
            }

            if (le is not null)
            {
                output.Append(first ? string.Empty : ",").Append("le=\"").Append(le).Append('"');
            }

            output.Append('}');
        }

        output.Append(' ').Append(FormatValue(value)).Append('\n');
    }

    private static string TypeName(MetricType type) => type switch
    {
        MetricType.Counter => "counter",
        MetricType.Histogram => "histogram",
        _ => "gauge",
    };

    private static string LabelKey(IReadOnlyList<KeyValuePair<string, string>> labels) =>
        string.Join('\u0001', labels.Select(l => l.Key + "\u0002" + l.Value));
}
