using Eventsourced.Metrics;

namespace Eventsourced.Tests.Metrics;

public sealed class PrometheusTextFormatTests
{
    private static KeyValuePair<string, string>[] Labels(params (string Name, string Value)[] labels) =>
        labels.Select(l => KeyValuePair.Create(l.Name, l.Value)).ToArray();

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void Write_CounterAndGauge_HelpAndTypeBeforeSamples()
    {
        var text = PrometheusTextFormat.Write(
        [
            new MetricFamily("b_total", MetricType.Counter, "Bs.", [new MetricPoint([], 3)]),
            new MetricFamily("a", MetricType.Gauge, "As.", [new MetricPoint([], 2.5)]),
        ]);

        Assert.Equal(
            "# HELP a As.\n# TYPE a gauge\na 2.5\n# HELP b_total Bs.\n# TYPE b_total counter\nb_total 3\n",
            text);
    }

    [Fact]
    public void Write_FamiliesSortedByName_AndPointsByLabels()
    {
        var text = PrometheusTextFormat.Write(
        [
            new MetricFamily("zeta", MetricType.Gauge, "z", [new MetricPoint(Labels(("node", "b")), 1), new MetricPoint(Labels(("node", "a")), 2)]),
            new MetricFamily("alpha", MetricType.Gauge, "a", [new MetricPoint([], 0)]),
        ]);

        Assert.Equal(
            ["# HELP alpha a", "# TYPE alpha gauge", "alpha 0", "# HELP zeta z", "# TYPE zeta gauge", "zeta{node=\"a\"} 2", "zeta{node=\"b\"} 1"],
            Lines(text));
    }

    [Fact]
    public void Write_ManyPointsInAFamily_HelpAndTypeOnce()
    {
        var points = Enumerable.Range(0, 5).Select(i => new MetricPoint(Labels(("outcome", $"o{i}")), i)).ToArray();

        var lines = Lines(PrometheusTextFormat.Write([new MetricFamily("x_total", MetricType.Counter, "x", points)]));

        Assert.Single(lines, l => l.StartsWith("# HELP x_total ", StringComparison.Ordinal));
        Assert.Single(lines, l => l.StartsWith("# TYPE x_total ", StringComparison.Ordinal));
        Assert.Equal(5, lines.Count(l => l.StartsWith("x_total{", StringComparison.Ordinal)));
        Assert.StartsWith("# HELP", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("# TYPE", lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public void Write_Histogram_BucketsCumulative_InfEqualsCount()
    {
        var histogram = new HistogramValue([0.1, 1, 10], [2, 0, 3, 4], 123.5);

        var lines = Lines(PrometheusTextFormat.Write(
            [new MetricFamily("d_seconds", MetricType.Histogram, "durations", [new MetricPoint(Labels(("node", "n:1")), 0, histogram)])]));

        Assert.Equal(
        [
            "# HELP d_seconds durations",
            "# TYPE d_seconds histogram",
            "d_seconds_bucket{node=\"n:1\",le=\"0.1\"} 2",
            "d_seconds_bucket{node=\"n:1\",le=\"1\"} 2",
            "d_seconds_bucket{node=\"n:1\",le=\"10\"} 5",
            "d_seconds_bucket{node=\"n:1\",le=\"+Inf\"} 9",
            "d_seconds_sum{node=\"n:1\"} 123.5",
            "d_seconds_count{node=\"n:1\"} 9",
        ], lines);
        Assert.Equal(9, histogram.Count);
    }

    [Fact]
    public void Write_HistogramWithoutLabels_OnlyLeLabel()
    {
        var lines = Lines(PrometheusTextFormat.Write(
            [new MetricFamily("h", MetricType.Histogram, "h", [new MetricPoint([], 0, new HistogramValue([0.5], [1, 1], 1.25))])]));

        Assert.Contains("h_bucket{le=\"0.5\"} 1", lines);
        Assert.Contains("h_bucket{le=\"+Inf\"} 2", lines);
        Assert.Contains("h_sum 1.25", lines);
        Assert.Contains("h_count 2", lines);
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("back\\slash", "back\\\\slash")]
    [InlineData("a \"quote\"", "a \\\"quote\\\"")]
    [InlineData("two\nlines", "two\\nlines")]
    [InlineData("\\\"\n", "\\\\\\\"\\n")]
    [InlineData("ünïcode ✓", "ünïcode ✓")]
    public void EscapeLabelValue_EscapesBackslashQuoteAndNewline(string value, string expected) =>
        Assert.Equal(expected, PrometheusTextFormat.EscapeLabelValue(value));

    [Fact]
    public void Write_LabelValueWithSpecialCharacters_IsEscapedInTheSample()
    {
        var text = PrometheusTextFormat.Write(
            [new MetricFamily("g", MetricType.Gauge, "help with \\ and\nnewline", [new MetricPoint(Labels(("v", "a\"b\\c\nd")), 1)])]);

        Assert.Contains("# HELP g help with \\\\ and\\nnewline\n", text, StringComparison.Ordinal);
        Assert.Contains("g{v=\"a\\\"b\\\\c\\nd\"} 1\n", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, "0")]
    [InlineData(42, "42")]
    [InlineData(-3.5, "-3.5")]
    [InlineData(0.001, "0.001")]
    [InlineData(1e21, "1E+21")]
    [InlineData(double.PositiveInfinity, "+Inf")]
    [InlineData(double.NegativeInfinity, "-Inf")]
    [InlineData(double.NaN, "NaN")]
    public void FormatValue_UsesPrometheusSpelling(double value, string expected) =>
        Assert.Equal(expected, PrometheusTextFormat.FormatValue(value));

    [Fact]
    public void FormatValue_RoundTrips() =>
        Assert.Equal(0.1 + 0.2, double.Parse(PrometheusTextFormat.FormatValue(0.1 + 0.2), System.Globalization.CultureInfo.InvariantCulture));

    [Fact]
    public void Write_FamilyWithoutPoints_IsLeftOut() =>
        Assert.Equal(string.Empty, PrometheusTextFormat.Write([new MetricFamily("empty", MetricType.Gauge, "e", [])]));

    [Fact]
    public void ContentType_IsVersion004() =>
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", PrometheusTextFormat.ContentType);
}
