using System.Net;
using System.Text.Json;
using Eventsourced.IntegrationTests.Gateway;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Observability;

/// <summary><c>/healthz</c>, <c>/readyz</c>, <c>/debug/vars</c> and how their paths move, switch off and stay clear of the stream.</summary>
[Collection(BrokerCollection.Name)]
public sealed class ObservabilityEndpointTests(BrokerFixture broker)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task HealthAndReady_BrokerUp_Answer200()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);

        using var live = await gateway.Client.GetAsync("/healthz");
        using var ready = await gateway.Client.GetAsync("/readyz");

        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Equal("Healthy", (await live.Content.ReadAsStringAsync()).Trim());
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        var body = await ready.Content.ReadAsStringAsync();
        Assert.StartsWith("Healthy\nbroker: Healthy: 1 of 1 broker connections up", body, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/events")]
    public async Task HealthAndReady_OnlyGetAndHead_OtherMethodsAre405WithAReason(string serverPath)
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Server.Path = serverPath);
        foreach (var path in new[] { "/healthz", "/readyz" })
        {
            using var head = await gateway.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, path));
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
            foreach (var method in new[] { HttpMethod.Delete, HttpMethod.Post, HttpMethod.Put })
            {
                using var response = await gateway.Client.SendAsync(new HttpRequestMessage(method, path));
                Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
                Assert.Equal("method not allowed", response.Headers.GetValues("X-Status-Reason").Single());
            }
        }
    }

    [Fact]
    public async Task Ready_NoBrokerReachable_Answers503WithTheReason_WhileLiveStays200()
    {
        var closed = $"amqp://guest:guest@127.0.0.1:{FreePort.Next()}/";
        await using var gateway = await GatewayServer.StartAsync(closed);

        using var ready = await gateway.Client.GetAsync("/readyz");
        using var live = await gateway.Client.GetAsync("/healthz");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        var reason = ready.Headers.GetValues("X-Status-Reason").Single();
        Assert.StartsWith("no broker connection is up", reason, StringComparison.Ordinal);
        Assert.Contains(reason, await ready.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
    }

    [Fact]
    public async Task Endpoints_WithCatchAllStreamPath_AreNotTheStream()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl); // server.path "/" serves every path
        var queue = broker.UniqueQueueName("not-the-stream");

        foreach (var path in new[] { "/metrics", "/debug/vars", "/healthz", "/readyz" })
        {
            using var response = await gateway.Client.GetAsync($"{path}?id={queue}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.NotEqual("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        }

        await using var amqp = await broker.ConnectAsync(nameof(Endpoints_WithCatchAllStreamPath_AreNotTheStream));
        Assert.False(await amqp.QueueExistsAsync(queue)); // nobody subscribed
    }

    /// <summary>
    /// Spellings that routing alone would send to an observability endpoint (it matches case-insensitively, with a
    /// trailing slash, after percent-decoding and dot-segment removal), each with the endpoint's own path: a proxy
    /// denying <c>/metrics</c> case-sensitively would let them through.
    /// </summary>
    public static TheoryData<string, string> OtherSpellings() => new()
    {
        { "/METRICS", "/metrics" },
        { "/Metrics", "/metrics" },
        { "/metrics/", "/metrics" },
        { "/%6detrics", "/metrics" },
        { "/%6Detrics", "/metrics" },
        { "/./metrics", "/metrics" },
        { "/DEBUG/VARS", "/debug/vars" },
        { "/debug/vars/", "/debug/vars" },
        { "/debug/%76ars", "/debug/vars" },
        { "/debug/x/../vars", "/debug/vars" },
        { "/HEALTHZ", "/healthz" },
        { "/readyz/", "/readyz" },
    };

    [Theory]
    [MemberData(nameof(OtherSpellings))]
    public async Task Endpoints_OtherSpellingOfTheirPath_AreTheStreamAtCatchAllServerPath(string spelling, string endpoint)
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl); // server.path "/" serves every path
        var exact = await RawHttp.SendAsync(gateway.BaseAddress, "GET", endpoint);
        Assert.Equal(200, exact.Status);

        var response = await RawHttp.SendAsync(gateway.BaseAddress, "GET", spelling);

        Assert.Equal(400, response.Status);
        Assert.Equal("missing query parameter 'id'", response.Header("X-Status-Reason"));
        AssertNotAnObservabilityAnswer(response);
    }

    [Theory]
    [MemberData(nameof(OtherSpellings))]
    public async Task Endpoints_OtherSpellingOfTheirPath_Are404WithExactServerPath(string spelling, string endpoint)
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Server.Path = "/events");
        var exact = await RawHttp.SendAsync(gateway.BaseAddress, "GET", endpoint);
        Assert.Equal(200, exact.Status);

        var response = await RawHttp.SendAsync(gateway.BaseAddress, "GET", spelling);

        Assert.Equal(404, response.Status);
        AssertNotAnObservabilityAnswer(response);
    }

    private static void AssertNotAnObservabilityAnswer(RawResponse response)
    {
        Assert.DoesNotContain("# TYPE", response.Body, StringComparison.Ordinal);
        Assert.DoesNotContain("\"cmdline\"", response.Body, StringComparison.Ordinal);
        Assert.DoesNotContain("Healthy", response.Body, StringComparison.Ordinal);
        Assert.NotEqual("application/json; charset=utf-8", response.Header("Content-Type"));
        Assert.False(response.Header("Content-Type")?.StartsWith("text/plain; version=0.0.4", StringComparison.Ordinal) ?? false);
    }

    [Fact]
    public async Task Endpoints_MovedOrSwitchedOff_ServeTheirNewPathsAndLeaveTheOldToTheStream()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Metrics.Path = "/ops/prom";
            o.Metrics.DebugVars = string.Empty;
            o.Health.Live = "/ops/live";
            o.Health.Ready = string.Empty;
        });

        using var metrics = await gateway.Client.GetAsync("/ops/prom");
        using var live = await gateway.Client.GetAsync("/ops/live");
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        Assert.Contains("# TYPE eventsourced_streams_active gauge", await metrics.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);

        // The old paths are now just paths below server.path "/": the stream, which wants ?id.
        foreach (var path in new[] { "/metrics", "/debug/vars", "/healthz", "/readyz" })
        {
            using var response = await gateway.Client.GetAsync(path);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("missing query parameter 'id'", response.Headers.GetValues("X-Status-Reason").Single());
        }
    }

    [Fact]
    public async Task Endpoints_WithExactStreamPath_OtherPathsAre404WhenSwitchedOff()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Server.Path = "/events";
            o.Metrics.Path = string.Empty;
        });

        using var metrics = await gateway.Client.GetAsync("/metrics");
        using var ready = await gateway.Client.GetAsync("/readyz");

        Assert.Equal(HttpStatusCode.NotFound, metrics.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }

    [Fact]
    public async Task Metrics_GetAndHead_TextFormatNeverCached_EvenWhenOpenMetricsIsPreferred()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);

        using var get = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        // What Prometheus 2.42 sends: OpenMetrics first. The gateway answers the 0.0.4 text format regardless.
        get.Headers.TryAddWithoutValidation("Accept", "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1");
        using var got = await gateway.Client.SendAsync(get);
        using var head = await gateway.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/metrics"));
        using var post = await gateway.Client.PostAsync("/metrics", new StringContent(string.Empty));
        using var varsHead = await gateway.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/debug/vars"));

        Assert.Equal(HttpStatusCode.OK, got.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", got.Content.Headers.ContentType?.ToString());
        Assert.Equal("no-store", got.Headers.CacheControl?.ToString());
        Assert.True(got.Headers.ConnectionClose);
        Assert.Contains("# TYPE eventsourced_streams_total counter", await got.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", head.Content.Headers.ContentType?.ToString());
        Assert.Equal("no-store", head.Headers.CacheControl?.ToString());
        Assert.Empty(await head.Content.ReadAsByteArrayAsync());
        Assert.NotEqual(HttpStatusCode.OK, post.StatusCode);
        Assert.DoesNotContain("# TYPE", await post.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, varsHead.StatusCode);
        Assert.Equal("no-store", varsHead.Headers.CacheControl?.ToString());
    }

    [Fact]
    public async Task DebugVars_AfterTraffic_ReportBrokerStreamsDeliveriesAndRuntime()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var amqp = await broker.ConnectAsync(nameof(DebugVars_AfterTraffic_ReportBrokerStreamsDeliveriesAndRuntime));
        var queue = broker.UniqueQueueName("debugvars");
        await using var client = await gateway.SubscribeAsync($"/?id={queue}");
        await amqp.PublishAsync(queue, "one");
        await amqp.PublishAsync(queue, "two");
        await client.ReadEventsAsync(2, Patience);

        JsonElement vars = default;
        await Wait.UntilAsync(
            async () => (vars = await GetVarsAsync(gateway)).GetProperty("messages_delivered").GetInt64() == 2,
            Patience, "two deliveries in /debug/vars");

        var node = new Uri(broker.AmqpUrl) is var uri ? $"{uri.Host}:{uri.Port}" : "";
        Assert.Equal(1, vars.GetProperty("broker").GetProperty("connections_up").GetInt32());
        Assert.Equal(1, vars.GetProperty("broker").GetProperty("nodes").GetProperty(node).GetProperty("channels").GetInt32());
        Assert.Equal(1, vars.GetProperty("streams").GetInt64());
        Assert.Equal(1, vars.GetProperty("consumers").GetInt32());
        Assert.InRange(vars.GetProperty("deliveries_last_second").GetInt64(), 0, 2);
        Assert.True(vars.GetProperty("uptime_seconds").GetDouble() > 0);
        Assert.True(vars.GetProperty("threads").GetInt32() > 0);
        Assert.True(vars.GetProperty("memstats").GetProperty("TotalAlloc").GetInt64() > 0);
        Assert.Equal(JsonValueKind.Array, vars.GetProperty("cmdline").ValueKind);
    }

    [Fact]
    public async Task DebugVars_WithATopic_ShowTheStreamsConnection()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        var topic = broker.UniqueQueueName("varstopic");
        await using var amqp = await broker.ConnectAsync(nameof(DebugVars_WithATopic_ShowTheStreamsConnection));
        try
        {
            var before = (await GetVarsAsync(gateway)).GetProperty("broker");
            Assert.Equal(0, before.GetProperty("streams_connections").GetInt32());

            await using var client = await gateway.SubscribeAsync($"/topics/{topic}");
            Assert.Equal(HttpStatusCode.OK, client.Status);

            var vars = await GetVarsAsync(gateway);
            var node = new Uri(broker.AmqpUrl) is var uri ? $"{uri.Host}:{uri.Port}" : "";
            var perNode = vars.GetProperty("broker").GetProperty("nodes").GetProperty(node);
            Assert.Equal(1, vars.GetProperty("broker").GetProperty("streams_connections").GetInt32());
            Assert.Equal(1, vars.GetProperty("broker").GetProperty("streams_connections_up").GetInt32());
            Assert.Equal(1, perNode.GetProperty("streams_connections_up").GetInt32());
            Assert.Equal(0, perNode.GetProperty("publisher_connections").GetInt32());
            // The queue subscribers' connections alone, as /readyz counts them.
            Assert.Equal(1, vars.GetProperty("broker").GetProperty("connections").GetInt32());
        }
        finally
        {
            await amqp.DeleteQueueAsync("topic." + topic);
        }
    }

    [Fact]
    public async Task DebugVars_DeliveriesLastSecond_CountsABurst()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var amqp = await broker.ConnectAsync(nameof(DebugVars_DeliveriesLastSecond_CountsABurst));
        var queue = broker.UniqueQueueName("burst");
        await using var client = await gateway.SubscribeAsync($"/?id={queue}");
        for (var i = 0; i < 20; i++)
        {
            await amqp.PublishAsync(queue, $"m{i}");
        }

        await client.ReadEventsAsync(20, Patience);

        // Within about two seconds of the burst, some second holds deliveries; after a quiet second, none.
        var seen = 0L;
        await Wait.UntilAsync(
            async () => (seen = Math.Max(seen, (await GetVarsAsync(gateway)).GetProperty("deliveries_last_second").GetInt64())) > 0,
            TimeSpan.FromSeconds(3), "a second with deliveries", TimeSpan.FromMilliseconds(100));
        Assert.InRange(seen, 1, 20);
        await Wait.UntilAsync(
            async () => (await GetVarsAsync(gateway)).GetProperty("deliveries_last_second").GetInt64() == 0,
            TimeSpan.FromSeconds(5), "a quiet second");
    }

    /// <summary>
    /// A process that has just started (no collection yet, a few megabytes allocated) reports memory figures that
    /// agree with each other: what was ever allocated is at least what is allocated now, and so is the heap's memory.
    /// </summary>
    [Fact]
    public async Task DebugVars_FreshProcess_MemstatsAgree()
    {
        var port = FreePort.Next();
        await using var process = GatewayProcess.Start(new Dictionary<string, string>
        {
            ["EVENTSOURCED_SERVER__ADDRESS"] = $"127.0.0.1:{port}",
            ["EVENTSOURCED_BROKER__NODE__0"] = $"amqp://guest:guest@127.0.0.1:{FreePort.Next()}/",
        });
        using var client = await process.ListeningClientAsync(port, Patience);

        using var response = await client.GetAsync("/debug/vars");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var memstats = document.RootElement.GetProperty("memstats");
        var alloc = memstats.GetProperty("Alloc").GetInt64();
        Assert.True(alloc > 0);
        Assert.True(memstats.GetProperty("TotalAlloc").GetInt64() >= alloc, $"TotalAlloc below Alloc: {memstats}");
        Assert.True(memstats.GetProperty("HeapSys").GetInt64() >= alloc, $"HeapSys below Alloc: {memstats}");
    }

    private static async Task<JsonElement> GetVarsAsync(GatewayServer gateway)
    {
        using var response = await gateway.Client.GetAsync("/debug/vars");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.Clone();
    }
}
