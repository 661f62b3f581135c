using System.Globalization;
using System.Text;
using Eventsourced.Bench.Measure;

namespace Eventsourced.Bench.Report;

/// <summary>
/// Latency distributions as a small SVG: a histogram per series over log-spaced buckets, counts on a log
/// scale, so the tail (the few slow messages) is as visible as the bulk; each series' percentiles in the
/// legend. Drawn by hand: two step lines and their axes need no plotting library and its native
/// dependencies.
/// </summary>
internal static class LatencyChart
{
    private const double MinMs = 0.05;
    private const double MaxMs = 2000;
    private const int BucketsPerDecade = 10;
    private const int Width = 720;
    private const int Height = 360;
    private const int Left = 60;
    private const int Right = 20;
    private const int Top = 40;
    private const int Bottom = 90;

    private static readonly string[] Colors = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd"];

    /// <summary>One series: its name and its latencies in milliseconds.</summary>
    public sealed record Series(string Name, double[] LatenciesMs);

    public static string Render(string title, IReadOnlyList<Series> series)
    {
        var decades = Math.Log10(MaxMs / MinMs);
        var buckets = (int)Math.Ceiling(decades * BucketsPerDecade);
        var counts = series.Select(s => Histogram(s.LatenciesMs, buckets)).ToArray();
        var maxCount = Math.Max(1, counts.SelectMany(c => c).DefaultIfEmpty(1).Max());
        var plotWidth = Width - Left - Right;
        var plotHeight = Height - Top - Bottom;
        double X(double ms) => Left + (plotWidth * Math.Log10(Math.Clamp(ms, MinMs, MaxMs) / MinMs) / decades);
        double Y(long count) => Top + plotHeight - (plotHeight * Math.Log10(1 + count) / Math.Log10(1 + maxCount));

        var svg = new StringBuilder();
        svg.Append(Invariant($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"11\">\n"));
        svg.Append(Invariant($"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>\n"));
        var titleLines = Wrap(title, 100);
        for (var i = 0; i < titleLines.Count; i++)
        {
            svg.Append(Invariant($"<text x=\"{Left}\" y=\"{16 + (i * 14)}\" font-size=\"12\">{Escape(titleLines[i])}</text>\n"));
        }

        // Axes: milliseconds at each decade, counts at powers of ten.
        svg.Append(Invariant($"<line x1=\"{Left}\" y1=\"{Top + plotHeight}\" x2=\"{Left + plotWidth}\" y2=\"{Top + plotHeight}\" stroke=\"black\"/>\n"));
        svg.Append(Invariant($"<line x1=\"{Left}\" y1=\"{Top}\" x2=\"{Left}\" y2=\"{Top + plotHeight}\" stroke=\"black\"/>\n"));
        foreach (var ms in new[] { 0.1, 1, 10, 100, 1000 })
        {
            var x = X(ms);
            svg.Append(Invariant($"<line x1=\"{x:F1}\" y1=\"{Top}\" x2=\"{x:F1}\" y2=\"{Top + plotHeight}\" stroke=\"#ddd\"/>\n"));
            svg.Append(Invariant($"<text x=\"{x:F1}\" y=\"{Top + plotHeight + 14}\" text-anchor=\"middle\">{ms.ToString(CultureInfo.InvariantCulture)} ms</text>\n"));
        }

        for (long count = 1; count <= maxCount; count *= 10)
        {
            var y = Y(count);
            svg.Append(Invariant($"<line x1=\"{Left}\" y1=\"{y:F1}\" x2=\"{Left + plotWidth}\" y2=\"{y:F1}\" stroke=\"#eee\"/>\n"));
            svg.Append(Invariant($"<text x=\"{Left - 6}\" y=\"{y + 4:F1}\" text-anchor=\"end\">{count.ToString("N0", CultureInfo.InvariantCulture)}</text>\n"));
        }

        svg.Append(Invariant($"<text x=\"{Left + (plotWidth / 2)}\" y=\"{Top + plotHeight + 30}\" text-anchor=\"middle\">publish to client, log scale; messages per bucket, log scale</text>\n"));
        for (var s = 0; s < series.Count; s++)
        {
            var color = Colors[s % Colors.Length];
            var points = new StringBuilder();
            for (var b = 0; b < buckets; b++)
            {
                var from = MinMs * Math.Pow(10, (double)b / BucketsPerDecade);
                var to = MinMs * Math.Pow(10, (double)(b + 1) / BucketsPerDecade);
                var y = Y(counts[s][b]);
                points.Append(Invariant($"{X(from):F1},{y:F1} {X(to):F1},{y:F1} "));
            }

            svg.Append(Invariant($"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{points.ToString().TrimEnd()}\"/>\n"));
            var legendY = Top + plotHeight + 48 + (s * 16);
            svg.Append(Invariant($"<rect x=\"{Left}\" y=\"{legendY - 9}\" width=\"12\" height=\"10\" fill=\"{color}\"/>\n"));
            svg.Append(Invariant($"<text x=\"{Left + 18}\" y=\"{legendY}\">{Escape(series[s].Name)}: {Escape(Summary(series[s].LatenciesMs))}</text>\n"));
        }

        svg.Append("</svg>\n");
        return svg.ToString();
    }

    /// <summary>"n messages; p50 .. p99 .. p99.9 .. max .." in milliseconds.</summary>
    public static string Summary(double[] latenciesMs)
    {
        if (latenciesMs.Length == 0)
        {
            return "no messages";
        }

        var sorted = latenciesMs.Order().ToArray();
        return Invariant($"{sorted.Length:N0} messages; p50 {NearestRank.Of(sorted, 0.5):F2} ms, p99 {NearestRank.Of(sorted, 0.99):F2} ms, p99.9 {NearestRank.Of(sorted, 0.999):F2} ms, max {sorted[^1]:F2} ms");
    }

    /// <summary>Words of <paramref name="text"/> in lines of at most <paramref name="width"/> characters (two at most, the rest cut).</summary>
    private static List<string> Wrap(string text, int width)
    {
        var lines = new List<string> { string.Empty };
        foreach (var word in text.Split(' '))
        {
            if (lines[^1].Length > 0 && lines[^1].Length + 1 + word.Length > width)
            {
                lines.Add(string.Empty);
            }

            lines[^1] = lines[^1].Length == 0 ? word : lines[^1] + " " + word;
        }

        return lines.Take(2).ToList();
    }

    private static long[] Histogram(double[] latenciesMs, int buckets)
    {
        var counts = new long[buckets];
        foreach (var ms in latenciesMs)
        {
            var b = (int)Math.Floor(Math.Log10(Math.Clamp(ms, MinMs, MaxMs) / MinMs) * BucketsPerDecade);
            counts[Math.Clamp(b, 0, buckets - 1)]++;
        }

        return counts;
    }

    private static string Escape(string text) => text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
