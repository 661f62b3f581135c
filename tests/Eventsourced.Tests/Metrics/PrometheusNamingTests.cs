using Eventsourced.Metrics;

namespace Eventsourced.Tests.Metrics;

public sealed class PrometheusNamingTests
{
    [Theory]
    [InlineData("eventsourced.streams.active", "{stream}", "Gauge", "eventsourced_streams_active")]
    [InlineData("eventsourced.streams", "{stream}", "Counter", "eventsourced_streams_total")]
    [InlineData("eventsourced.messages.delivered", "{message}", "Counter", "eventsourced_messages_delivered_total")]
    [InlineData("eventsourced.bytes.delivered", "By", "Counter", "eventsourced_bytes_delivered_total")]
    [InlineData("eventsourced.broker.connections", "{connection}", "Gauge", "eventsourced_broker_connections")]
    [InlineData("eventsourced.delivery.latency", "s", "Histogram", "eventsourced_delivery_latency_seconds")]
    [InlineData("eventsourced.stream.duration", "s", "Histogram", "eventsourced_stream_duration_seconds")]
    [InlineData("eventsourced.heartbeats", "{heartbeat}", "Counter", "eventsourced_heartbeats_total")]
    [InlineData("dotnet.gc.pause.time", "s", "Counter", "dotnet_gc_pause_time_seconds_total")]
    [InlineData("dotnet.gc.heap.total_allocated", "By", "Counter", "dotnet_gc_heap_total_allocated_bytes_total")]
    [InlineData("kestrel.active_connections", "{connection}", "Gauge", "kestrel_active_connections")]
    [InlineData("http.server.request.duration", "s", "Histogram", "http_server_request_duration_seconds")]
    public void MetricName_FollowsTheNamingMap(string instrument, string unit, string type, string expected) =>
        Assert.Equal(expected, PrometheusNaming.MetricName(instrument, unit, Enum.Parse<MetricType>(type)));

    [Theory]
    [InlineData("requests_total", null, "Counter", "requests_total")]
    [InlineData("io.seconds.total", "s", "Counter", "io_seconds_total")]
    [InlineData("wait.seconds", "s", "Histogram", "wait_seconds")]
    [InlineData("size.bytes", "By", "Gauge", "size_bytes")]
    [InlineData("bytes.in.flight", "By", "Gauge", "bytes_in_flight")]
    public void MetricName_DoesNotDoubleSuffixes(string instrument, string? unit, string type, string expected) =>
        Assert.Equal(expected, PrometheusNaming.MetricName(instrument, unit, Enum.Parse<MetricType>(type)));

    [Theory]
    [InlineData("dotnet.timer.count", "Gauge", "dotnet_timer_count_current")]
    [InlineData("x.sum", "Gauge", "x_sum_current")]
    [InlineData("x.bucket", "Gauge", "x_bucket_current")]
    [InlineData("x.total", "Gauge", "x_total_current")]
    [InlineData("x.total", "Histogram", "x_total_current")]
    [InlineData("x.count", "Counter", "x_count_total")]
    public void MetricName_AvoidsSuffixesReservedForOtherTypes(string instrument, string type, string expected) =>
        Assert.Equal(expected, PrometheusNaming.MetricName(instrument, null, Enum.Parse<MetricType>(type)));

    [Theory]
    [InlineData("my-meter/instrument name", "my_meter_instrument_name")]
    [InlineData("9lives", "_9lives")]
    [InlineData("ns:sub.name", "ns:sub_name")]
    [InlineData("", "_")]
    public void MetricName_ReplacesCharactersPrometheusCannotHold(string instrument, string expected) =>
        Assert.Equal(expected, PrometheusNaming.MetricName(instrument, null, MetricType.Gauge));

    [Theory]
    [InlineData("node", "node")]
    [InlineData("http.request.method", "http_request_method")]
    [InlineData("a:b", "a_b")]
    [InlineData("1st", "_1st")]
    [InlineData("__name__", "tag___name__")]
    [InlineData("le", "tag_le")]
    [InlineData("quantile", "tag_quantile")]
    public void LabelName_IsAValidUnreservedLabelName(string tag, string expected) =>
        Assert.Equal(expected, PrometheusNaming.LabelName(tag));

    [Theory]
    [InlineData("s", "seconds")]
    [InlineData("By", "bytes")]
    [InlineData("{stream}", null)]
    [InlineData("1", null)]
    [InlineData(null, null)]
    public void UnitWord_MapsBaseUnitsOnly(string? unit, string? expected) =>
        Assert.Equal(expected, PrometheusNaming.UnitWord(unit));
}
