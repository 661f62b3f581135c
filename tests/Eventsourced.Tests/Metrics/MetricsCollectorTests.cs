using System.Diagnostics.Metrics;
using Eventsourced.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace Eventsourced.Tests.Metrics;

public sealed class MetricsCollectorTests
{
    [Fact]
    public void Collect_CounterWithTags_OneSumPerTagSet()
    {
        using var meters = new TestMeters();
        var counter = meters.Meter().CreateCounter<long>("test.requests", "{request}", "Requests.");

        counter.Add(2, new KeyValuePair<string, object?>("outcome", "ok"));
        counter.Add(3, new KeyValuePair<string, object?>("outcome", "ok"));
        counter.Add(1, new KeyValuePair<string, object?>("outcome", "failed"));

        var family = meters.Family("test_requests_total");
        Assert.Equal(MetricType.Counter, family.Type);
        Assert.Equal("Requests.", family.Help);
        Assert.Equal(5, meters.Value("test_requests_total", ("outcome", "ok")));
        Assert.Equal(1, meters.Value("test_requests_total", ("outcome", "failed")));
        Assert.Equal(2, family.Points.Count);
    }

    [Fact]
    public void Collect_CounterGivenNegativeOrNaN_IgnoresThem()
    {
        using var meters = new TestMeters();
        var counter = meters.Meter().CreateCounter<double>("test.work");

        counter.Add(2);
        counter.Add(-1);
        counter.Add(double.NaN);

        Assert.Equal(2, meters.Value("test_work_total"));
    }

    [Fact]
    public void Collect_UpDownCounter_IsAGaugeOfTheRunningSum()
    {
        using var meters = new TestMeters();
        var active = meters.Meter().CreateUpDownCounter<long>("test.active", "{stream}");

        active.Add(1);
        active.Add(1);
        active.Add(1);
        active.Add(-1);

        Assert.Equal(MetricType.Gauge, meters.Family("test_active").Type);
        Assert.Equal(2, meters.Value("test_active"));
    }

    [Fact]
    public void Collect_MultipleTags_LabelsSortedByNameAndTagValuesFormatted()
    {
        using var meters = new TestMeters();
        var counter = meters.Meter().CreateCounter<int>("test.hits");

        counter.Add(1, new("zone", "b"), new("http.status", 503), new("flag", true));
        counter.Add(1, new("flag", true), new("zone", "b"), new("http.status", 503));

        var point = Assert.Single(meters.Family("test_hits_total").Points);
        Assert.Equal(["flag", "http_status", "zone"], point.Labels.Select(l => l.Key));
        Assert.Equal(["true", "503", "b"], point.Labels.Select(l => l.Value));
        Assert.Equal(2, point.Value);
    }

    [Fact]
    public void Collect_Histogram_UsesAdvisedBoundsAndCountsValuesOnABoundInThatBucket()
    {
        using var meters = new TestMeters();
        var histogram = meters.Meter().CreateHistogram<double>(
            "test.latency", "s", "Latency.", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 1, 10] });

        foreach (var value in new[] { 0.05, 0.1, 0.5, 1, 20, 30 })
        {
            histogram.Record(value);
        }

        var family = meters.Family("test_latency_seconds");
        Assert.Equal(MetricType.Histogram, family.Type);
        var value1 = Assert.Single(family.Points).Histogram!;
        Assert.Equal([0.1, 1, 10], value1.UpperBounds);
        Assert.Equal([2L, 2, 0, 2], value1.BucketCounts);
        Assert.Equal(51.65, value1.Sum, 10);
        Assert.Equal(6, value1.Count);
    }

    [Fact]
    public void Collect_HistogramWithoutAdvice_UsesPrometheusDefaultBounds()
    {
        using var meters = new TestMeters();
        meters.Meter().CreateHistogram<long>("test.sizes").Record(3);

        var histogram = Assert.Single(meters.Family("test_sizes").Points).Histogram!;
        Assert.Equal(InstrumentAggregate.DefaultBounds, histogram.UpperBounds);
        Assert.Equal(1, histogram.BucketCounts[Array.IndexOf(InstrumentAggregate.DefaultBounds, 5.0)]);
    }

    [Fact]
    public void Collect_ObservableGauge_ReportsTheCurrentValuesAndDropsSeriesNoLongerObserved()
    {
        using var meters = new TestMeters();
        var values = new List<Measurement<int>> { new(3, new KeyValuePair<string, object?>("pool", "a")), new(4, new KeyValuePair<string, object?>("pool", "b")) };
        meters.Meter().CreateObservableGauge("test.size", () => values.ToArray());

        Assert.Equal(3, meters.Value("test_size", ("pool", "a")));
        values.RemoveAt(0);
        values[0] = new(7, new KeyValuePair<string, object?>("pool", "b"));

        var point = Assert.Single(meters.Family("test_size").Points);
        Assert.Equal(7, point.Value);
    }

    [Fact]
    public void Collect_ObservableCounter_IsACounterOfTheObservedTotal()
    {
        using var meters = new TestMeters();
        long total = 10;
        meters.Meter().CreateObservableCounter("test.allocated", () => total, "By");

        Assert.Equal(10, meters.Value("test_allocated_bytes_total"));
        total = 25;
        Assert.Equal(25, meters.Value("test_allocated_bytes_total"));
        Assert.Equal(MetricType.Counter, meters.Family("test_allocated_bytes_total").Type);
    }

    [Fact]
    public void Collect_ObservableUpDownCounterAndGauge_AreGauges()
    {
        using var meters = new TestMeters();
        var meter = meters.Meter();
        meter.CreateObservableUpDownCounter("test.queue", () => -2L);
        var gauge = meter.CreateGauge<double>("test.temperature");
        gauge.Record(21.5);
        gauge.Record(19);

        Assert.Equal(MetricType.Gauge, meters.Family("test_queue").Type);
        Assert.Equal(-2, meters.Value("test_queue"));
        Assert.Equal(MetricType.Gauge, meters.Family("test_temperature").Type);
        Assert.Equal(19, meters.Value("test_temperature"));
    }

    [Fact]
    public void Collect_InstrumentWithoutMeasurements_HasNoFamily()
    {
        using var meters = new TestMeters();
        meters.Meter().CreateCounter<long>("test.never");

        Assert.DoesNotContain(meters.Collect(), f => f.Name == "test_never_total");
    }

    [Fact]
    public void Collect_TwoInstrumentsWithOneName_OneFamilyWithBothLabelSets()
    {
        using var meters = new TestMeters();
        meters.Meter("a").CreateCounter<long>("test.ops").Add(1, new KeyValuePair<string, object?>("from", "a"));
        meters.Meter("b").CreateCounter<long>("test_ops").Add(2, new KeyValuePair<string, object?>("from", "b"));

        var family = Assert.Single(meters.Collect(), f => f.Name == "test_ops_total");
        Assert.Equal(MetricType.Counter, family.Type);
        Assert.Equal(2, family.Points.Count);
        Assert.Equal(2, meters.Value("test_ops_total", ("from", "b")));
    }

    [Fact]
    public void Collect_TwoInstrumentsWithOneNameOfDifferentTypes_TheFirstByMeterNameWins()
    {
        using var meters = new TestMeters();
        meters.Meter("b").CreateUpDownCounter<long>("test.mixed").Add(5);
        meters.Meter("a").CreateHistogram<double>("test.mixed").Record(1);

        var family = Assert.Single(meters.Collect(), f => f.Name == "test_mixed");
        Assert.Equal(MetricType.Histogram, family.Type);
        Assert.NotNull(Assert.Single(family.Points).Histogram);
    }

    [Fact]
    public void Collect_FamiliesSortedByName()
    {
        using var meters = new TestMeters();
        var meter = meters.Meter();
        meter.CreateCounter<long>("zz").Add(1);
        meter.CreateCounter<long>("aa").Add(1);
        meter.CreateCounter<long>("mm").Add(1);

        Assert.Equal(["aa_total", "mm_total", "zz_total"], meters.Collect().Select(f => f.Name));
    }

    [Fact]
    public void Collect_MeterOfAnotherScope_IsNotExposed()
    {
        using var meters = new TestMeters();
        using var other = new Meter("test.unscoped");
        other.CreateCounter<long>("test.other").Add(1);
        meters.Meter().CreateCounter<long>("test.mine").Add(1);

        Assert.Equal(["test_mine_total"], meters.Collect().Select(f => f.Name));
    }

    [Fact]
    public void Collect_MeterDisposed_ItsInstrumentsLeave()
    {
        var name = $"test.short-lived.{Guid.NewGuid():N}";
        using var collector = new MetricsCollector(meter => meter.Name == name);
        var meter = new Meter(name);
        meter.CreateCounter<long>("test.gone").Add(1);
        Assert.Contains(collector.Collect(), f => f.Name == "test_gone_total");

        meter.Dispose();

        Assert.DoesNotContain(collector.Collect(), f => f.Name == "test_gone_total");
    }

    [Fact]
    public void Collect_TooManyTagSets_StopsAtTheCap()
    {
        using var meters = new TestMeters();
        var counter = meters.Meter().CreateCounter<long>("test.unbounded");

        for (var i = 0; i < InstrumentAggregate.MaxSeries + 50; i++)
        {
            counter.Add(1, new KeyValuePair<string, object?>("id", i));
        }

        Assert.Equal(InstrumentAggregate.MaxSeries, meters.Family("test_unbounded_total").Points.Count);
    }

    [Fact]
    public void Collect_ConcurrentAdds_LoseNothing()
    {
        using var meters = new TestMeters();
        var counter = meters.Meter().CreateCounter<long>("test.parallel");

        Parallel.For(0, 10_000, i => counter.Add(1, new KeyValuePair<string, object?>("even", i % 2 == 0)));

        Assert.Equal(5000, meters.Value("test_parallel_total", ("even", "true")));
        Assert.Equal(5000, meters.Value("test_parallel_total", ("even", "false")));
    }

    [Fact]
    public void IsExposed_GatewayKestrelAndHostingOfThisFactory_AndTheRuntimeMeter()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var otherServices = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        var otherFactory = otherServices.GetRequiredService<IMeterFactory>();
        using var runtime = new Meter(MetricsCollector.RuntimeMeterName);
        using var unrelated = new Meter("System.Net.Http");

        Assert.True(MetricsCollector.IsExposed(factory.Create(GatewayMetrics.MeterName), factory));
        Assert.True(MetricsCollector.IsExposed(factory.Create(MetricsCollector.KestrelMeterName), factory));
        Assert.True(MetricsCollector.IsExposed(factory.Create(MetricsCollector.HostingMeterName), factory));
        Assert.True(MetricsCollector.IsExposed(runtime, factory));
        Assert.False(MetricsCollector.IsExposed(otherFactory.Create(GatewayMetrics.MeterName), factory));
        Assert.False(MetricsCollector.IsExposed(unrelated, factory));
        Assert.False(MetricsCollector.IsExposed(factory.Create("Some.Other"), factory));
    }

    [Fact]
    public void Collect_RuntimeMeter_IncludedWithKnownCurrentValuesAsGauges()
    {
        using var collector = new MetricsCollector(meter => meter.Name == MetricsCollector.RuntimeMeterName);

        var families = collector.Collect().ToDictionary(f => f.Name);

        Assert.Equal(MetricType.Counter, families["dotnet_gc_heap_total_allocated_bytes_total"].Type);
        Assert.Equal(MetricType.Gauge, families["dotnet_process_memory_working_set_bytes"].Type);
        Assert.Equal(MetricType.Gauge, families["dotnet_thread_pool_thread_count_current"].Type);
        Assert.Equal(MetricType.Gauge, families["dotnet_thread_pool_queue_length"].Type);
        Assert.True(families["dotnet_process_memory_working_set_bytes"].Points.Single().Value > 0);
    }

    [Fact]
    public async Task PrometheusExposition_WritesTheCollectedFamiliesAsText()
    {
        using var meters = new TestMeters();
        meters.Meter().CreateCounter<long>("test.sent", "By", "Bytes sent.").Add(42, new KeyValuePair<string, object?>("node", "h:1"));
        var exposition = new PrometheusExposition(meters.Collector);
        using var body = new MemoryStream();

        await exposition.WriteAsync(body);

        Assert.Equal(PrometheusTextFormat.ContentType, exposition.ContentType);
        Assert.Equal(
            "# HELP test_sent_bytes_total Bytes sent.\n# TYPE test_sent_bytes_total counter\ntest_sent_bytes_total{node=\"h:1\"} 42\n",
            System.Text.Encoding.UTF8.GetString(body.ToArray()));
    }
}
