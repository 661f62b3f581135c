using System.Text;

namespace Eventsourced.Metrics;

/// <summary>
/// From <see cref="System.Diagnostics.Metrics"/> names to Prometheus names: dots (and anything else a
/// Prometheus name cannot hold) become underscores; the unit <c>s</c> adds <c>_seconds</c> and <c>By</c>
/// adds <c>_bytes</c> unless the name already has that word; counters end in <c>_total</c>. Names that would
/// end in a suffix Prometheus reserves for another type (<c>_total</c>, <c>_count</c>, <c>_sum</c>,
/// <c>_bucket</c> on a gauge) get <c>_current</c> appended, so that <c>promtool check metrics</c> accepts them.
/// </summary>
internal static class PrometheusNaming
{
    private static readonly string[] ReservedGaugeSuffixes = ["_total", "_count", "_sum", "_bucket"];

    public static string MetricName(string instrumentName, string? unit, MetricType type)
    {
        var name = Sanitize(instrumentName, allowColon: true);
        if (UnitWord(unit) is { } word && !name.Split('_').Contains(word, StringComparer.Ordinal))
        {
            name += "_" + word;
        }

        return type switch
        {
            MetricType.Counter => name.EndsWith("_total", StringComparison.Ordinal) ? name : name + "_total",
            MetricType.Histogram => name.EndsWith("_total", StringComparison.Ordinal) ? name + "_current" : name,
            _ => ReservedGaugeSuffixes.Any(s => name.EndsWith(s, StringComparison.Ordinal)) ? name + "_current" : name,
        };
    }

    /// <summary>
    /// A tag name as a label name. Names Prometheus reserves (<c>__*</c>, <c>le</c>, <c>quantile</c>) get a
    /// <c>tag_</c> prefix.
    /// </summary>
    public static string LabelName(string tagName)
    {
        var name = Sanitize(tagName, allowColon: false);
        return name.StartsWith("__", StringComparison.Ordinal) || name is "le" or "quantile" ? "tag_" + name : name;
    }

    /// <summary>The base-unit word a UCUM unit adds to a name, or null (annotations like <c>{stream}</c> add nothing).</summary>
    public static string? UnitWord(string? unit) => unit switch
    {
        "s" => "seconds",
        "By" => "bytes",
        _ => null,
    };

    private static string Sanitize(string text, bool allowColon)
    {
        if (text.Length == 0)
        {
            return "_";
        }

        var builder = new StringBuilder(text.Length + 1);
        if (char.IsAsciiDigit(text[0]))
        {
            builder.Append('_');
        }

        foreach (var c in text)
        {
            builder.Append(char.IsAsciiLetterOrDigit(c) || c == '_' || (allowColon && c == ':') ? c : '_');
        }

        return builder.ToString();
    }
}
