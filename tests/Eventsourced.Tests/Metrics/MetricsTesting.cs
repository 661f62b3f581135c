using System.Globalization;
using System.Text;
using Eventsourced.Metrics;
using Prometheus;

namespace Eventsourced.Tests.Metrics;

/// <summary>A registry of a test's own, the gateway's series in it, and what a scrape of it reads.</summary>
internal sealed class TestMetrics
{
    public TestMetrics(TimeProvider? time = null)
    {
        Registry = Prometheus.Metrics.NewCustomRegistry();
        Gateway = new GatewayMetrics(Registry, time ?? TimeProvider.System);
    }

    public CollectorRegistry Registry { get; }

    public GatewayMetrics Gateway { get; }

    public Scrape Scrape() => Metrics.Scrape.Of(Registry);
}

/// <summary>One sample line of a scrape.</summary>
internal sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public override string ToString() => $"{Name}{{{string.Join(",", Labels.Select(l => $"{l.Key}=\"{l.Value}\""))}}} {Value}";
}

/// <summary>
/// A registry's text exposition, as prometheus-net writes it for <c>/metrics</c>, parsed independently (label
/// values unescaped), so that tests read what a scraper would.
/// </summary>
internal sealed class Scrape
{
    private Scrape(string text, IReadOnlyList<Sample> samples, IReadOnlyDictionary<string, string> types)
    {
        Text = text;
        Samples = samples;
        Types = types;
    }

    public string Text { get; }

    public IReadOnlyList<Sample> Samples { get; }

    /// <summary>Family name to its <c># TYPE</c>.</summary>
    public IReadOnlyDictionary<string, string> Types { get; }

    public static Scrape Of(CollectorRegistry registry)
    {
        using var body = new MemoryStream();
        registry.CollectAndExportAsTextAsync(body).GetAwaiter().GetResult();
        var text = Encoding.UTF8.GetString(body.ToArray());
        var samples = new List<Sample>();
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line[7..].Split(' ');
                types.Add(parts[0], parts[1]);
            }
            else if (!line.StartsWith('#'))
            {
                samples.Add(ParseSample(line));
            }
        }

        return new Scrape(text, samples, types);
    }

    public IEnumerable<Sample> Series(string name) => Samples.Where(s => s.Name == name);

    /// <summary>The value of the sample with exactly these labels; fails the test when there is none.</summary>
    public double Value(string name, params (string Name, string Value)[] labels) =>
        Series(name).FirstOrDefault(s => s.Labels.Count == labels.Length && labels.All(l => s.Labels.TryGetValue(l.Name, out var v) && v == l.Value))?.Value
        ?? throw new Xunit.Sdk.XunitException(
            $"no sample {name}{{{string.Join(",", labels.Select(l => $"{l.Name}=\"{l.Value}\""))}}}; samples of {name}: {string.Join("; ", Series(name))}");

    /// <summary>The label sets of <paramref name="name"/>'s samples, each as <c>k=v,k=v</c>, sorted.</summary>
    public IEnumerable<string> LabelSets(string name) =>
        Series(name).Select(s => string.Join(",", s.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}"))).Order(StringComparer.Ordinal);

    /// <summary>The <c>le</c> bounds of an unlabelled histogram's buckets, without <c>+Inf</c>.</summary>
    public IReadOnlyList<double> Bounds(string histogram) =>
        Series(histogram + "_bucket").Select(s => s.Labels["le"]).Where(le => le != "+Inf")
            .Select(le => double.Parse(le, CultureInfo.InvariantCulture)).ToArray();

    private static Sample ParseSample(string line)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        var brace = line.IndexOf('{', StringComparison.Ordinal);
        var space = line.LastIndexOf(' ');
        var name = brace < 0 ? line[..space] : line[..brace];
        if (brace >= 0)
        {
            var i = brace + 1;
            while (line[i] != '}')
            {
                var equals = line.IndexOf('=', i);
                var label = line[i..equals];
                i = equals + 2;
                var value = new StringBuilder();
                for (; line[i] != '"'; i++)
                {
                    if (line[i] == '\\')
                    {
                        i++;
                        value.Append(line[i] == 'n' ? '\n' : line[i]);
                    }
                    else
                    {
                        value.Append(line[i]);
                    }
                }

                labels.Add(label, value.ToString());
                i++;
                if (line[i] == ',')
                {
                    i++;
                }
            }
        }

        var number = line[(space + 1)..] switch
        {
            "+Inf" => double.PositiveInfinity,
            "-Inf" => double.NegativeInfinity,
            "NaN" => double.NaN,
            var text => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture),
        };
        return new Sample(name, labels, number);
    }
}

/// <summary>A clock the test moves by hand.</summary>
internal sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private long _ticks;

    public DateTimeOffset Start { get; } = start;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Interlocked.Read(ref _ticks);

    public override DateTimeOffset GetUtcNow() => Start + TimeSpan.FromTicks(Interlocked.Read(ref _ticks));

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
