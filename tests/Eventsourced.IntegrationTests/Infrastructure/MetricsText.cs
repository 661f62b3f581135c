using System.Globalization;

namespace Eventsourced.IntegrationTests.Infrastructure;

/// <summary>Reads one series' value from a <c>/metrics</c> scrape.</summary>
internal static class MetricsText
{
    /// <summary>The value of <paramref name="series"/> (its name with labels, as the scrape writes it); fails the test when it is missing.</summary>
    public static long Value(string metrics, string series)
    {
        var line = metrics.Split('\n').SingleOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal))
            ?? throw new Xunit.Sdk.XunitException($"no {series} in /metrics");
        return long.Parse(line[(series.Length + 1)..], CultureInfo.InvariantCulture);
    }
}
