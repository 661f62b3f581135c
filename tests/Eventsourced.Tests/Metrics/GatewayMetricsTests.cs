using Eventsourced.Metrics;

namespace Eventsourced.Tests.Metrics;

public sealed class GatewayMetricsTests
{
    private static readonly DateTimeOffset Now = new(2026, 5, 1, 12, 0, 0, TimeSpan.Zero);

    private static MessageTimestamp Before(TimeSpan ago) => new((Now - ago).ToUnixTimeMilliseconds());

    [Fact]
    public void DeclareSeries_CreatesEveryBoundedSeriesAtZero()
    {
        using var meters = new TestMeters();
        var metrics = new GatewayMetrics(meters.Factory);

        metrics.DeclareSeries(["rabbit-a:5672", "rabbit-b:5672", "rabbit-a:5672"]);

        Assert.Equal(0, meters.Value("eventsourced_streams_active"));
        Assert.Equal(0, meters.Value("eventsourced_messages_delivered_total"));
        Assert.Equal(0, meters.Value("eventsourced_bytes_delivered_total"));
        Assert.Equal(0, meters.Value("eventsourced_heartbeats_total"));
        Assert.Equal(StreamOutcomes.All.Order(StringComparer.Ordinal), meters.Family("eventsourced_streams_total").Points.Select(p => p.Labels.Single().Value).Order(StringComparer.Ordinal));
        Assert.All(meters.Family("eventsourced_streams_total").Points, p => Assert.Equal(0, p.Value));
        foreach (var family in new[] { "eventsourced_broker_connections", "eventsourced_broker_channels", "eventsourced_broker_reconnects_total" })
        {
            Assert.Equal(["node=rabbit-a:5672", "node=rabbit-b:5672"], meters.Family(family).Points.Select(p => $"{p.Labels.Single().Key}={p.Labels.Single().Value}").Order(StringComparer.Ordinal));
        }

        Assert.Equal(0, meters.Value("eventsourced_delivery_latency_discarded_total", ("reason", "in_future")));
        Assert.Equal(0, meters.Value("eventsourced_delivery_latency_discarded_total", ("reason", "implausible")));
    }

    [Fact]
    public void Calls_CountWhatHappened()
    {
        using var meters = new TestMeters();
        var metrics = new GatewayMetrics(meters.Factory);

        metrics.StreamOutcome(StreamOutcomes.Streamed);
        metrics.StreamOutcome(StreamOutcomes.Streamed);
        metrics.StreamOutcome(StreamOutcomes.Busy);
        metrics.StreamOpened();
        metrics.StreamOpened();
        metrics.StreamClosed(TimeSpan.FromSeconds(2));
        metrics.Delivered(3, 120);
        metrics.Delivered(1, 10);
        metrics.Heartbeat();
        metrics.ConnectionUp("n:1");
        metrics.ConnectionDown("n:1");
        metrics.ConnectionUp("n:1");
        metrics.Reconnected("n:1");
        metrics.ChannelLeased("n:1");
        metrics.ChannelLeased("n:1");
        metrics.ChannelReleased("n:1");

        Assert.Equal(2, meters.Value("eventsourced_streams_total", ("outcome", "streamed")));
        Assert.Equal(1, meters.Value("eventsourced_streams_total", ("outcome", "busy")));
        Assert.Equal(1, meters.Value("eventsourced_streams_active"));
        var duration = meters.Point("eventsourced_stream_duration_seconds").Histogram!;
        Assert.Equal(1, duration.Count);
        Assert.Equal(2, duration.Sum);
        Assert.Equal(4, meters.Value("eventsourced_messages_delivered_total"));
        Assert.Equal(130, meters.Value("eventsourced_bytes_delivered_total"));
        Assert.Equal(1, meters.Value("eventsourced_heartbeats_total"));
        Assert.Equal(1, meters.Value("eventsourced_broker_connections", ("node", "n:1")));
        Assert.Equal(1, meters.Value("eventsourced_broker_reconnects_total", ("node", "n:1")));
        Assert.Equal(1, meters.Value("eventsourced_broker_channels", ("node", "n:1")));
    }

    [Theory]
    [InlineData(1500, 1.5)]
    [InlineData(0, 0)]
    [InlineData(-400, 0)]   // publisher clock slightly ahead: skew, counted as zero
    [InlineData(-1000, 0)]
    public void DeliveryLatency_PlausibleTimes_AreRecorded(int agoMilliseconds, double expectedSeconds)
    {
        using var meters = new TestMeters();
        var metrics = new GatewayMetrics(meters.Factory);

        metrics.DeliveryLatency(Before(TimeSpan.FromMilliseconds(agoMilliseconds)), Now);

        var histogram = meters.Point("eventsourced_delivery_latency_seconds").Histogram!;
        Assert.Equal(1, histogram.Count);
        Assert.Equal(expectedSeconds, histogram.Sum, 6);
        Assert.DoesNotContain(meters.Collect(), f => f.Name == "eventsourced_delivery_latency_discarded_total");
    }

    [Fact]
    public void DeliveryLatency_TimeFurtherAheadThanTheSkew_IsDiscardedAsInFuture()
    {
        using var meters = new TestMeters();
        var metrics = new GatewayMetrics(meters.Factory);

        metrics.DeliveryLatency(Before(-GatewayMetrics.MaxClockSkew - TimeSpan.FromMilliseconds(1)), Now);
        metrics.DeliveryLatency(MessageTimestamp.FromSeconds(Now.ToUnixTimeMilliseconds()), Now); // milliseconds in the seconds field

        Assert.Equal(2, meters.Value("eventsourced_delivery_latency_discarded_total", ("reason", "in_future")));
        Assert.DoesNotContain(meters.Collect(), f => f.Name == "eventsourced_delivery_latency_seconds");
    }

    [Fact]
    public void DeliveryLatency_TimeOlderThanPlausible_IsDiscardedAsImplausible()
    {
        using var meters = new TestMeters();
        var metrics = new GatewayMetrics(meters.Factory);

        metrics.DeliveryLatency(new MessageTimestamp(Now.ToUnixTimeSeconds()), Now); // seconds in timestamp_in_ms
        metrics.DeliveryLatency(Before(GatewayMetrics.MaxPlausibleLatency + TimeSpan.FromSeconds(1)), Now);
        metrics.DeliveryLatency(Before(TimeSpan.FromDays(3)), Now); // a long wait in a queue is real

        Assert.Equal(2, meters.Value("eventsourced_delivery_latency_discarded_total", ("reason", "implausible")));
        Assert.Equal(1, meters.Point("eventsourced_delivery_latency_seconds").Histogram!.Count);
    }

    [Fact]
    public void DeliveryLatency_NoTimestamp_RecordsNothing()
    {
        using var meters = new TestMeters();
        var metrics = new GatewayMetrics(meters.Factory);

        metrics.DeliveryLatency(MessageTimestamp.None, Now);

        Assert.DoesNotContain(meters.Collect(), f => f.Name.StartsWith("eventsourced_delivery_latency", StringComparison.Ordinal));
    }

    [Fact]
    public void DeliveryLatency_HistogramBuckets_AreTheAdvisedOnes()
    {
        using var meters = new TestMeters();
        var metrics = new GatewayMetrics(meters.Factory);

        metrics.DeliveryLatency(TimeSpan.FromMilliseconds(3));

        var histogram = meters.Point("eventsourced_delivery_latency_seconds").Histogram!;
        Assert.Equal([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], histogram.UpperBounds);
        Assert.Equal(1, histogram.BucketCounts[2]);
    }
}
