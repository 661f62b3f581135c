using System.Diagnostics.Metrics;
using Eventsourced.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace Eventsourced.Tests.Metrics;

/// <summary>A meter factory of a test's own with a collector that sees only that factory's meters.</summary>
internal sealed class TestMeters : IDisposable
{
    private readonly ServiceProvider _services;

    public TestMeters()
    {
        _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        Factory = _services.GetRequiredService<IMeterFactory>();
        Collector = new MetricsCollector(meter => ReferenceEquals(meter.Scope, Factory));
    }

    public IMeterFactory Factory { get; }

    public MetricsCollector Collector { get; }

    public Meter Meter(string name = "test") => Factory.Create(name);

    public IReadOnlyList<MetricFamily> Collect() => Collector.Collect();

    public MetricFamily Family(string name) =>
        Collect().SingleOrDefault(f => f.Name == name)
        ?? throw new Xunit.Sdk.XunitException($"no family {name}; have {string.Join(", ", Collect().Select(f => f.Name))}");

    /// <summary>The value of the point with exactly these labels.</summary>
    public double Value(string family, params (string Name, string Value)[] labels) => Point(family, labels).Value;

    public MetricPoint Point(string family, params (string Name, string Value)[] labels)
    {
        var wanted = labels.Select(l => KeyValuePair.Create(l.Name, l.Value)).OrderBy(l => l.Key, StringComparer.Ordinal).ToArray();
        var points = Family(family).Points;
        return points.SingleOrDefault(p => p.Labels.SequenceEqual(wanted))
            ?? throw new Xunit.Sdk.XunitException($"{family} has no point {{{string.Join(",", wanted)}}}; has {string.Join(" ", points.Select(p => "{" + string.Join(",", p.Labels) + "}"))}");
    }

    public void Dispose()
    {
        Collector.Dispose();
        _services.Dispose();
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
