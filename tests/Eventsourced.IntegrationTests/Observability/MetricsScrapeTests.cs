using System.Net;
using System.Text;
using Eventsourced.IntegrationTests.Gateway;
using Eventsourced.IntegrationTests.Infrastructure;
using RabbitMQ.Client;

namespace Eventsourced.IntegrationTests.Observability;

/// <summary><c>/metrics</c> of a real gateway after real traffic: exact numbers, and what promtool says.</summary>
[Collection(BrokerCollection.Name)]
public sealed class MetricsScrapeTests(BrokerFixture broker)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private string Node => new Uri(broker.AmqpUrl) is var uri ? $"{uri.Host}:{uri.Port}" : "";

    private static int FrameBytes(string body) => Encoding.UTF8.GetByteCount($"data: {body}\n\n");

    [Fact]
    public async Task Scrape_AfterKnownTraffic_ShowsExactlyThoseNumbers()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var other = await GatewayServer.StartAsync(broker.AmqpUrl); // traffic that must not count
        await using var amqp = await broker.ConnectAsync(nameof(Scrape_AfterKnownTraffic_ShowsExactlyThoseNumbers));
        var queues = Enumerable.Range(0, 3).Select(i => broker.UniqueQueueName($"scrape{i}")).ToArray();
        var clients = new List<SseClient>();
        foreach (var queue in queues)
        {
            clients.Add(await gateway.SubscribeAsync($"/?id={queue}"));
        }

        Assert.All(clients, c => Assert.Equal(HttpStatusCode.OK, c.Status));
        await using (var busy = await gateway.SubscribeAsync($"/?id={queues[0]}"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, busy.Status);
        }

        var otherQueue = broker.UniqueQueueName("scrape-other");
        await using var otherClient = await other.SubscribeAsync($"/?id={otherQueue}");
        await amqp.PublishAsync(otherQueue, "not ours", DateTimeOffset.UtcNow);
        await otherClient.ReadEventsAsync(1, Patience);

        // M = 5 messages: 2 + 2 + 1, with a publish time from the header or the AMQP property.
        var bodies = new[] { ["a-1", "a-2"], ["b-1", "b-2"], new[] { "c-1" } };
        for (var i = 0; i < queues.Length; i++)
        {
            foreach (var body in bodies[i])
            {
                var properties = new BasicProperties();
                if (i == 0)
                {
                    properties.Headers = new Dictionary<string, object?> { ["timestamp_in_ms"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() };
                }

                await amqp.PublishAsync(queues[i], body, i == 0 ? null : DateTimeOffset.UtcNow, properties);
            }
        }

        for (var i = 0; i < queues.Length; i++)
        {
            Assert.Equal(bodies[i], await clients[i].ReadEventsAsync(bodies[i].Length, Patience));
        }

        // The counters move right after the flush the client saw; wait for the last ack, then read one scrape.
        Exposition scrape = null!;
        await Wait.UntilAsync(
            async () => (scrape = await Exposition.ScrapeAsync(gateway.Client)).Value("eventsourced_messages_delivered_total") >= 5,
            Patience, "5 deliveries counted");

        Assert.Equal(3, scrape.Value("eventsourced_streams_active"));
        Assert.Equal(3, scrape.Value("eventsourced_streams_total", ("outcome", "streamed")));
        Assert.Equal(1, scrape.Value("eventsourced_streams_total", ("outcome", "busy")));
        Assert.Equal(0, scrape.Value("eventsourced_streams_total", ("outcome", "bad_request")));
        Assert.Equal(0, scrape.Value("eventsourced_streams_total", ("outcome", "broker_unavailable")));
        Assert.Equal(5, scrape.Value("eventsourced_messages_delivered_total"));
        Assert.Equal(bodies.SelectMany(b => b).Sum(FrameBytes), scrape.Value("eventsourced_bytes_delivered_total"));
        Assert.Equal(1, scrape.Value("eventsourced_broker_connections", ("node", Node)));
        Assert.Equal(3, scrape.Value("eventsourced_broker_channels", ("node", Node)));
        Assert.Equal(0, scrape.Value("eventsourced_broker_reconnects_total", ("node", Node)));
        Assert.Equal(5, scrape.Value("eventsourced_delivery_latency_seconds_count"));
        Assert.Equal(5, scrape.Value("eventsourced_delivery_latency_seconds_bucket", ("le", "+Inf")));
        Assert.InRange(scrape.Value("eventsourced_delivery_latency_seconds_sum"), 0, 5 * 3.0);
        Assert.Equal(0, scrape.Value("eventsourced_delivery_latency_discarded_total", ("reason", "in_future")));
        Assert.Empty(scrape.Series("eventsourced_stream_duration_seconds_count"));

        // One stream ends: one fewer open, one duration, its channel returned.
        await clients[2].DisposeAsync();
        await Wait.UntilAsync(
            async () => (scrape = await Exposition.ScrapeAsync(gateway.Client)).Value("eventsourced_streams_active") == 2,
            Patience, "the closed stream counted");
        Assert.Equal(1, scrape.Value("eventsourced_stream_duration_seconds_count"));
        Assert.Equal(2, scrape.Value("eventsourced_broker_channels", ("node", Node)));
        Assert.Equal(3, scrape.Value("eventsourced_streams_total", ("outcome", "streamed")));

        foreach (var client in clients.Take(2))
        {
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task Scrape_RealGateway_PromtoolCheckMetricsAcceptsItWithoutComplaint()
    {
        var promtool = PrometheusTools.Promtool; // fail first, and clearly, without promtool
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Server.HeartbeatSeconds = 1);
        await using var amqp = await broker.ConnectAsync(nameof(Scrape_RealGateway_PromtoolCheckMetricsAcceptsItWithoutComplaint));
        var queue = broker.UniqueQueueName("promtool");
        await using var client = await gateway.SubscribeAsync($"/?id={queue}");
        await amqp.PublishAsync(queue, "hello", DateTimeOffset.UtcNow);
        await client.ReadEventsAsync(1, Patience);
        await client.ReadUntilAsync(text => text.Contains(": heartbeat", StringComparison.Ordinal), Patience);
        using (var bad = await gateway.Client.GetAsync("/?nothing=1"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        }

        using var response = await gateway.Client.GetAsync("/metrics");
        var text = await response.Content.ReadAsStringAsync();
        var result = await PrometheusTools.CheckMetricsAsync(text);

        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        Assert.True(
            result.Succeeded && result.StandardOutput.Trim().Length == 0 && result.StandardError.Trim().Length == 0,
            $"{promtool} check metrics exited {result.ExitCode}:\n{result.StandardOutput}\n{result.StandardError}\n--- scrape ---\n{text}");

        var scrape = Exposition.Parse(text);
        var expected = new Dictionary<string, string>
        {
            ["eventsourced_streams_active"] = "gauge",
            ["eventsourced_streams_total"] = "counter",
            ["eventsourced_messages_delivered_total"] = "counter",
            ["eventsourced_bytes_delivered_total"] = "counter",
            ["eventsourced_broker_connections"] = "gauge",
            ["eventsourced_broker_channels"] = "gauge",
            ["eventsourced_broker_reconnects_total"] = "counter",
            ["eventsourced_heartbeats_total"] = "counter",
            ["eventsourced_direct_write_streams_total"] = "counter",
            ["eventsourced_delivery_latency_seconds"] = "histogram",
            ["eventsourced_stream_duration_seconds"] = "histogram",
            // The meter adapter's names (meter_instrument) and types (every non-histogram a gauge).
            ["microsoft_aspnetcore_server_kestrel_kestrel_active_connections"] = "gauge",
            ["microsoft_aspnetcore_hosting_http_server_request_duration"] = "histogram",
            ["microsoft_aspnetcore_hosting_http_server_active_requests"] = "gauge",
            ["system_runtime_dotnet_gc_heap_total_allocated"] = "gauge",
            ["system_runtime_dotnet_process_memory_working_set"] = "gauge",
            ["system_runtime_dotnet_process_cpu_time"] = "gauge",
        };
        foreach (var (family, type) in expected.Where(e => e.Key != "eventsourced_stream_duration_seconds"))
        {
            Assert.True(scrape.Types.TryGetValue(family, out var actual) && actual == type, $"expected # TYPE {family} {type}; got {actual ?? "nothing"}");
        }

        Assert.True(scrape.Value("eventsourced_heartbeats_total") >= 1);
        Assert.Equal(1, scrape.Value("eventsourced_streams_total", ("outcome", "bad_request")));
        Assert.True(scrape.Value("microsoft_aspnetcore_server_kestrel_kestrel_active_connections", ("network_transport", "tcp"), ("network_type", "ipv4"), ("server_address", "127.0.0.1"), ("server_port", gateway.BaseAddress.Port.ToString(System.Globalization.CultureInfo.InvariantCulture))) >= 1);
        Assert.All(scrape.Samples, s => Assert.DoesNotContain(s.Labels.Values, v => v.Contains(queue, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Scrape_Histograms_BucketsAscendCumulativelyToInfEqualToCount()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var amqp = await broker.ConnectAsync(nameof(Scrape_Histograms_BucketsAscendCumulativelyToInfEqualToCount));
        var queue = broker.UniqueQueueName("histogram");
        await using (var client = await gateway.SubscribeAsync($"/?id={queue}"))
        {
            await amqp.PublishAsync(queue, "one", DateTimeOffset.UtcNow.AddSeconds(-20));
            await amqp.PublishAsync(queue, "two", DateTimeOffset.UtcNow);
            await client.ReadEventsAsync(2, Patience);
        }

        Exposition scrape = null!;
        await Wait.UntilAsync(
            async () => (scrape = await Exposition.ScrapeAsync(gateway.Client)).Find("eventsourced_stream_duration_seconds_count") == 1,
            Patience, "the stream's duration recorded");

        foreach (var family in scrape.Types.Where(t => t.Value == "histogram").Select(t => t.Key))
        {
            foreach (var series in scrape.Series(family + "_bucket").GroupBy(s => string.Join(",", s.Labels.Where(l => l.Key != "le").OrderBy(l => l.Key))))
            {
                var buckets = series.ToArray();
                var bounds = buckets.Select(b => b.Labels["le"] == "+Inf" ? double.PositiveInfinity : double.Parse(b.Labels["le"], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
                Assert.Equal(bounds.Order(), bounds);
                Assert.Equal(double.PositiveInfinity, bounds[^1]);
                Assert.Equal(buckets.Select(b => b.Value).Order(), buckets.Select(b => b.Value));
                var labels = buckets[0].Labels.Where(l => l.Key != "le").Select(l => (l.Key, l.Value)).ToArray();
                Assert.Equal(buckets[^1].Value, scrape.Value(family + "_count", labels));
            }
        }

        // Whole-second timestamps: the fresh message took at most a second or so, the other 20 s and a bit.
        Assert.Equal(2, scrape.Value("eventsourced_delivery_latency_seconds_count"));
        Assert.Equal(1, scrape.Value("eventsourced_delivery_latency_seconds_bucket", ("le", "2.5")));
        Assert.Equal(1, scrape.Value("eventsourced_delivery_latency_seconds_bucket", ("le", "10")));
        Assert.Equal(2, scrape.Value("eventsourced_delivery_latency_seconds_bucket", ("le", "30")));
    }
}
