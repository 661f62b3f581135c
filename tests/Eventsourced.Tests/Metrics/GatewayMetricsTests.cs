using Eventsourced.Metrics;

namespace Eventsourced.Tests.Metrics;

public sealed class GatewayMetricsTests
{
    private static readonly DateTimeOffset Now = new(2026, 5, 1, 12, 0, 0, TimeSpan.Zero);

    private static MessageTimestamp Before(TimeSpan ago) => new((Now - ago).ToUnixTimeMilliseconds());

    [Fact]
    public void DeclareSeries_CreatesEveryBoundedSeriesAtZero()
    {
        var meters = new TestMetrics();

        meters.Gateway.DeclareSeries(["rabbit-a:5672", "rabbit-b:5672", "rabbit-a:5672"]);

        var scrape = meters.Scrape();
        Assert.Equal(0, scrape.Value("eventsourced_streams_active"));
        Assert.Equal(0, scrape.Value("eventsourced_messages_delivered_total"));
        Assert.Equal(0, scrape.Value("eventsourced_bytes_delivered_total"));
        Assert.Equal(0, scrape.Value("eventsourced_heartbeats_total"));
        Assert.Equal(0, scrape.Value("eventsourced_direct_write_streams_total"));
        Assert.Equal(StreamOutcomes.All.Select(o => $"outcome={o}").Order(StringComparer.Ordinal), scrape.LabelSets("eventsourced_streams_total"));
        Assert.All(scrape.Series("eventsourced_streams_total"), p => Assert.Equal(0, p.Value));
        foreach (var family in new[] { "eventsourced_broker_connections", "eventsourced_broker_channels", "eventsourced_broker_blocked", "eventsourced_broker_reconnects_total" })
        {
            Assert.Equal(["node=rabbit-a:5672", "node=rabbit-b:5672"], scrape.LabelSets(family));
            Assert.All(scrape.Series(family), p => Assert.Equal(0, p.Value));
        }

        Assert.Equal(0, scrape.Value("eventsourced_delivery_latency_discarded_total", ("reason", "in_future")));
        Assert.Equal(0, scrape.Value("eventsourced_delivery_latency_discarded_total", ("reason", "implausible")));
    }

    [Fact]
    public void Series_HaveTheDocumentedTypes()
    {
        var meters = new TestMetrics();

        var types = meters.Scrape().Types;

        Assert.Equal("gauge", types["eventsourced_streams_active"]);
        Assert.Equal("counter", types["eventsourced_streams_total"]);
        Assert.Equal("counter", types["eventsourced_messages_delivered_total"]);
        Assert.Equal("counter", types["eventsourced_bytes_delivered_total"]);
        Assert.Equal("counter", types["eventsourced_heartbeats_total"]);
        Assert.Equal("counter", types["eventsourced_direct_write_streams_total"]);
        Assert.Equal("gauge", types["eventsourced_broker_connections"]);
        Assert.Equal("gauge", types["eventsourced_broker_channels"]);
        Assert.Equal("gauge", types["eventsourced_broker_blocked"]);
        Assert.Equal("counter", types["eventsourced_broker_reconnects_total"]);
        Assert.Equal("histogram", types["eventsourced_delivery_latency_seconds"]);
        Assert.Equal("counter", types["eventsourced_delivery_latency_discarded_total"]);
        Assert.Equal("histogram", types["eventsourced_stream_duration_seconds"]);
    }

    [Fact]
    public void Calls_CountWhatHappened()
    {
        var meters = new TestMetrics();
        var metrics = meters.Gateway;

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
        metrics.ConnectionBlocked("n:1");
        metrics.ConnectionBlocked("n:2");
        metrics.ConnectionUnblocked("n:2");

        var scrape = meters.Scrape();
        Assert.Equal(2, scrape.Value("eventsourced_streams_total", ("outcome", "streamed")));
        Assert.Equal(1, scrape.Value("eventsourced_streams_total", ("outcome", "busy")));
        Assert.Equal(1, scrape.Value("eventsourced_streams_active"));
        Assert.Equal(1, scrape.Value("eventsourced_stream_duration_seconds_count"));
        Assert.Equal(2, scrape.Value("eventsourced_stream_duration_seconds_sum"));
        Assert.Equal(4, scrape.Value("eventsourced_messages_delivered_total"));
        Assert.Equal(130, scrape.Value("eventsourced_bytes_delivered_total"));
        Assert.Equal(1, scrape.Value("eventsourced_heartbeats_total"));
        Assert.Equal(1, scrape.Value("eventsourced_broker_connections", ("node", "n:1")));
        Assert.Equal(1, scrape.Value("eventsourced_broker_reconnects_total", ("node", "n:1")));
        Assert.Equal(1, scrape.Value("eventsourced_broker_channels", ("node", "n:1")));
        Assert.Equal(1, scrape.Value("eventsourced_broker_blocked", ("node", "n:1")));
        Assert.Equal(0, scrape.Value("eventsourced_broker_blocked", ("node", "n:2")));
    }

    [Fact]
    public void ReadBack_IsWhatTheScrapeShows()
    {
        var time = new ManualTimeProvider(Now);
        var meters = new TestMetrics(time);
        var metrics = meters.Gateway;
        metrics.DeclareSeries(["n:1", "n:2"]);
        metrics.StreamOpened();
        metrics.StreamOpened();
        metrics.ConnectionUp("n:1");
        metrics.ChannelLeased("n:1");
        metrics.ChannelLeased("n:1");
        metrics.ChannelLeased("n:1");
        metrics.Delivered(5, 100);
        time.Advance(TimeSpan.FromSeconds(1));
        metrics.Delivered(2, 40);

        var scrape = meters.Scrape();
        Assert.Equal(scrape.Value("eventsourced_streams_active"), metrics.StreamsOpen);
        Assert.Equal(2, metrics.StreamsOpen);
        Assert.Equal(scrape.Value("eventsourced_messages_delivered_total"), metrics.MessagesDelivered);
        Assert.Equal(7, metrics.MessagesDelivered);
        Assert.Equal(1, metrics.ConnectionsUp("n:1"));
        Assert.Equal(0, metrics.ConnectionsUp("n:2"));
        Assert.Equal(scrape.Value("eventsourced_broker_channels", ("node", "n:1")), metrics.Channels("n:1"));
        Assert.Equal(3, metrics.Channels("n:1"));
        Assert.Equal(5, metrics.DeliveriesLastSecond);
    }

    [Theory]
    [InlineData(1500, 1.5)]
    [InlineData(0, 0)]
    [InlineData(-400, 0)]   // publisher clock slightly ahead: skew, counted as zero
    [InlineData(-1000, 0)]
    public void DeliveryLatency_PlausibleTimes_AreRecorded(int agoMilliseconds, double expectedSeconds)
    {
        var meters = new TestMetrics();

        meters.Gateway.DeliveryLatency(Before(TimeSpan.FromMilliseconds(agoMilliseconds)), Now);

        var scrape = meters.Scrape();
        Assert.Equal(1, scrape.Value("eventsourced_delivery_latency_seconds_count"));
        Assert.Equal(expectedSeconds, scrape.Value("eventsourced_delivery_latency_seconds_sum"), 6);
        Assert.Empty(scrape.Series("eventsourced_delivery_latency_discarded_total"));
    }

    [Fact]
    public void DeliveryLatency_TimeFurtherAheadThanTheSkew_IsDiscardedAsInFuture()
    {
        var meters = new TestMetrics();

        meters.Gateway.DeliveryLatency(Before(-GatewayMetrics.MaxClockSkew - TimeSpan.FromMilliseconds(1)), Now);
        meters.Gateway.DeliveryLatency(MessageTimestamp.FromSeconds(Now.ToUnixTimeMilliseconds()), Now); // milliseconds in the seconds field

        var scrape = meters.Scrape();
        Assert.Equal(2, scrape.Value("eventsourced_delivery_latency_discarded_total", ("reason", "in_future")));
        Assert.DoesNotContain(scrape.Samples, s => s.Name.StartsWith("eventsourced_delivery_latency_seconds", StringComparison.Ordinal));
    }

    [Fact]
    public void DeliveryLatency_TimeOlderThanPlausible_IsDiscardedAsImplausible()
    {
        var meters = new TestMetrics();

        meters.Gateway.DeliveryLatency(new MessageTimestamp(Now.ToUnixTimeSeconds()), Now); // seconds in timestamp_in_ms
        meters.Gateway.DeliveryLatency(Before(GatewayMetrics.MaxPlausibleLatency + TimeSpan.FromSeconds(1)), Now);
        meters.Gateway.DeliveryLatency(Before(TimeSpan.FromDays(3)), Now); // a long wait in a queue is real

        var scrape = meters.Scrape();
        Assert.Equal(2, scrape.Value("eventsourced_delivery_latency_discarded_total", ("reason", "implausible")));
        Assert.Equal(1, scrape.Value("eventsourced_delivery_latency_seconds_count"));
    }

    [Fact]
    public void DeliveryLatency_NoTimestamp_RecordsNothing()
    {
        var meters = new TestMetrics();

        meters.Gateway.DeliveryLatency(MessageTimestamp.None, Now);

        Assert.DoesNotContain(meters.Scrape().Samples, s => s.Name.StartsWith("eventsourced_delivery_latency", StringComparison.Ordinal));
    }

    [Fact]
    public void DeliveryLatency_HistogramBuckets_AreTheDocumentedOnes()
    {
        var meters = new TestMetrics();

        meters.Gateway.DeliveryLatency(TimeSpan.FromMilliseconds(3));

        var scrape = meters.Scrape();
        Assert.Equal([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], scrape.Bounds("eventsourced_delivery_latency_seconds"));
        Assert.Equal(0, scrape.Value("eventsourced_delivery_latency_seconds_bucket", ("le", "0.0025")));
        Assert.Equal(1, scrape.Value("eventsourced_delivery_latency_seconds_bucket", ("le", "0.005")));
    }

    [Fact]
    public void StreamDuration_HistogramBuckets_AreTheDocumentedOnes()
    {
        var meters = new TestMetrics();

        meters.Gateway.StreamClosed(TimeSpan.FromMinutes(20));

        var scrape = meters.Scrape();
        Assert.Equal([0.1, 1, 5, 15, 30, 60, 300, 900, 1800, 3600, 14400, 86400], scrape.Bounds("eventsourced_stream_duration_seconds"));
        Assert.Equal(0, scrape.Value("eventsourced_stream_duration_seconds_bucket", ("le", "900")));
        Assert.Equal(1, scrape.Value("eventsourced_stream_duration_seconds_bucket", ("le", "1800")));
    }

    [Fact]
    public void TwoGateways_EachCountsOnlyItsOwn()
    {
        var first = new TestMetrics();
        var second = new TestMetrics();

        first.Gateway.StreamOpened();
        first.Gateway.Delivered(2, 20);

        Assert.Equal(1, first.Scrape().Value("eventsourced_streams_active"));
        Assert.Equal(0, second.Scrape().Value("eventsourced_streams_active"));
        Assert.Equal(0, second.Scrape().Value("eventsourced_messages_delivered_total"));
    }

    [Fact]
    public void WatchMemory_EveryScrapeReadsTheHeapItsLimitAndWhereAdmissionRefuses()
    {
        var meters = new TestMetrics();
        var heap = 50L << 20;
        meters.Gateway.WatchMemory(60, () => (heap, 200L << 20));

        var scrape = meters.Scrape();
        Assert.Equal("gauge", scrape.Types["eventsourced_memory_heap_bytes"]);
        Assert.Equal(50L << 20, scrape.Value("eventsourced_memory_heap_bytes"));
        Assert.Equal(200L << 20, scrape.Value("eventsourced_memory_heap_limit_bytes"));
        Assert.Equal(120L << 20, scrape.Value("eventsourced_memory_admission_bytes"));

        heap = 130L << 20;
        Assert.Equal(130L << 20, meters.Scrape().Value("eventsourced_memory_heap_bytes"));
    }

    [Fact]
    public void WatchMemory_AdmissionOff_ThresholdIsZero()
    {
        var meters = new TestMetrics();
        meters.Gateway.WatchMemory(0, () => (10, 1000));

        var scrape = meters.Scrape();
        Assert.Equal(0, scrape.Value("eventsourced_memory_admission_bytes"));
        Assert.Equal(1000, scrape.Value("eventsourced_memory_heap_limit_bytes"));
    }

    [Fact]
    public void WatchMemory_ByDefault_ReadsTheRuntimesLastCollection()
    {
        var meters = new TestMetrics();
        meters.Gateway.WatchMemory(60);

        var limit = meters.Scrape().Value("eventsourced_memory_heap_limit_bytes");
        Assert.Equal(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, limit);
        Assert.Equal(Math.Floor(limit * 60 / 100), meters.Scrape().Value("eventsourced_memory_admission_bytes")); // whole bytes
    }

    [Fact]
    public void WatchConnections_EveryScrapeCountsEachNodesConnectionsByKindAndState()
    {
        var meters = new TestMetrics();
        var connections = new List<(string Node, string Kind, bool Up)> { ("a:5672", "subscribers", true) };
        meters.Gateway.WatchConnections(["a:5672", "b:5672"], () => connections);

        var scrape = meters.Scrape();
        Assert.Equal("gauge", scrape.Types["eventsourced_broker_connections_held"]);
        Assert.Equal(1, scrape.Value("eventsourced_broker_connections_held", ("node", "a:5672"), ("kind", "subscribers"), ("state", "up")));
        // Every configured node and kind from the start, at zero: an alert sees a connection go down, not a series appear.
        foreach (var node in new[] { "a:5672", "b:5672" })
        {
            foreach (var kind in new[] { "streams", "publisher" })
            {
                Assert.Equal(0, scrape.Value("eventsourced_broker_connections_held", ("node", node), ("kind", kind), ("state", "up")));
                Assert.Equal(0, scrape.Value("eventsourced_broker_connections_held", ("node", node), ("kind", kind), ("state", "down")));
            }
        }

        // A topic's connection opened on b, then lost: it counts as down there until it is back.
        connections.Add(("b:5672", "streams", true));
        Assert.Equal(1, meters.Scrape().Value("eventsourced_broker_connections_held", ("node", "b:5672"), ("kind", "streams"), ("state", "up")));
        connections[1] = ("b:5672", "streams", false);
        var lost = meters.Scrape();
        Assert.Equal(0, lost.Value("eventsourced_broker_connections_held", ("node", "b:5672"), ("kind", "streams"), ("state", "up")));
        Assert.Equal(1, lost.Value("eventsourced_broker_connections_held", ("node", "b:5672"), ("kind", "streams"), ("state", "down")));
        Assert.Equal(1, lost.Value("eventsourced_broker_connections_held", ("node", "a:5672"), ("kind", "subscribers"), ("state", "up")));

        // A node not configured (a cluster member found later) gets both states too.
        connections.Add(("c:5672", "subscribers", false));
        var extra = meters.Scrape();
        Assert.Equal(1, extra.Value("eventsourced_broker_connections_held", ("node", "c:5672"), ("kind", "subscribers"), ("state", "down")));
        Assert.Equal(0, extra.Value("eventsourced_broker_connections_held", ("node", "c:5672"), ("kind", "subscribers"), ("state", "up")));
    }
}
