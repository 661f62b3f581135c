using System.Net;
using System.Text.Json;
using Eventsourced.EndToEndTests.Browser;
using Eventsourced.EndToEndTests.Infrastructure;

namespace Eventsourced.EndToEndTests.ScaleOut;

/// <summary>
/// Several gateway instances against one broker behind the example nginx configuration: the README's
/// "Scaling out". The broker's exclusive consumer, not the load balancer, keeps one stream per queue.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class ScaleOutTests(BrokerFixture broker, ChromiumFixture chromium)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task TwoInstancesBehindNginx_TwentySimultaneousSubscribers_ExactlyOneStreamsAndBothInstancesRefuse()
    {
        const int subscribers = 20;
        var queue = broker.UniqueQueueName(nameof(TwoInstancesBehindNginx_TwentySimultaneousSubscribers_ExactlyOneStreamsAndBothInstancesRefuse));
        await using var first = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var second = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var nginx = await ExampleNginx.StartAsync([first.Port, second.Port]);
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = subscribers }) { BaseAddress = nginx.BaseAddress, Timeout = System.Threading.Timeout.InfiniteTimeSpan };

        var streams = await Task.WhenAll(Enumerable.Range(0, subscribers)
            .Select(_ => SseClient.OpenAsync(client, $"/?id={queue}", null, CancellationToken.None)));
        try
        {
            Assert.Single(streams, s => s.Status == HttpStatusCode.OK);
            Assert.All(streams.Where(s => s.Status != HttpStatusCode.OK), s =>
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, s.Status);
                Assert.Contains("another subscriber", s.Response.Headers.GetValues("X-Status-Reason").Single(), StringComparison.Ordinal);
            });
            // nginx spread the requests over both instances, and each refused some: the refusal crossed instances.
            Assert.True(await BusyCountAsync(first) > 0, "the first instance refused no one");
            Assert.True(await BusyCountAsync(second) > 0, "the second instance refused no one");
        }
        finally
        {
            foreach (var stream in streams)
            {
                await stream.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task TwoInstancesBehindNginx_ServingInstanceStops_PageMovesToTheOtherWithoutLoss()
    {
        var queue = broker.UniqueQueueName(nameof(TwoInstancesBehindNginx_ServingInstanceStops_PageMovesToTheOtherWithoutLoss));
        var gateways = new List<GatewayServer> { await GatewayServer.StartAsync(broker.AmqpUrl), await GatewayServer.StartAsync(broker.AmqpUrl) };
        await using var site = await PageServer.StartAsync();
        var page = await chromium.NewPageAsync();
        try
        {
            await using var nginx = await ExampleNginx.StartAsync(gateways.Select(g => g.Port));
            await using var amqp = await broker.ConnectAsync(nameof(TwoInstancesBehindNginx_ServingInstanceStops_PageMovesToTheOtherWithoutLoss));
            await page.GotoAsync(site.HarnessUrl(PageServer.GatewayUrl(nginx.Port, $"/?id={queue}")));
            await Harness.WaitUntilAsync(page, "h.opens === 1", Timeout);
            await amqp.PublishAsync(queue, "before");
            await Harness.WaitUntilAsync(page, "h.events.length === 1", Timeout);
            await Wait.UntilAsync(async () => (await broker.Rabbitmqctl.FindQueueAsync(queue))?.Messages == 0, Timeout, "the first message is acknowledged");

            // A rolling restart: the instance that serves the page stops (as on SIGTERM).
            var serving = await Task.WhenAll(gateways.Select(StreamCountAsync));
            var stopping = gateways[Array.IndexOf(serving, 1)];
            Assert.Equal([0, 1], serving.Order());
            gateways.Remove(stopping);
            await stopping.DisposeAsync();
            await amqp.PublishAsync(queue, "while moving");

            await Harness.WaitUntilAsync(page, "h.opens === 2 && h.events.length >= 2", Timeout);
            await amqp.PublishAsync(queue, "after");
            await Harness.WaitUntilAsync(page, "h.events.includes('after')", Timeout);
            var seen = await Harness.ReadAsync(page);
            Assert.Equal(["before", "while moving", "after"], seen.Events);
            Assert.All(seen.States, state => Assert.Equal(HarnessState.Connecting, state));
            Assert.Equal(1, await StreamCountAsync(gateways.Single()));
        }
        finally
        {
            await page.Context.CloseAsync();
            foreach (var gateway in gateways)
            {
                await gateway.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// A rolling restart of two instances behind the example: the first stops and comes back, then the second stops.
    /// nginx counts a request as a success only when it ends, which a stream does not for hours, so with nginx's
    /// default <c>max_fails=1</c> the first instance, failed once by its restart, was given one new request per
    /// <c>fail_timeout</c> (10 s) from then on, and once the second stopped nginx had no server it would use: every
    /// subscriber got the stand-in (<c>retry: 5000</c>) instead of a stream, until streams ended (with 200 clients, 60 s
    /// of nothing but stand-ins in a probe).
    /// </summary>
    [Fact]
    public async Task TwoInstancesBehindTheExampleNginx_RollingRestart_SubscribersReachTheInstanceThatCameBack()
    {
        var ports = new[] { FreePort.Next(), FreePort.Next() };
        GatewayServer? first = await StartOnAsync(ports[0]);
        GatewayServer? second = await StartOnAsync(ports[1]);
        var streams = new List<SseClient>();
        try
        {
            await using var nginx = await ExampleNginx.StartAsync(ports);
            using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 100 })
            {
                BaseAddress = nginx.BaseAddress,
                Timeout = System.Threading.Timeout.InfiniteTimeSpan,
            };

            async Task SubscribeAsync(int count, string step)
            {
                for (var i = 0; i < count; i++)
                {
                    var queue = broker.UniqueQueueName($"rolling-{step}-{i}");
                    var stream = await SseClient.OpenAsync(client, $"/?id={queue}", r => r.Headers.Accept.ParseAdd("text/event-stream"), CancellationToken.None);
                    streams.Add(stream);
                    Assert.Equal(HttpStatusCode.OK, stream.Status);
                    await stream.ReadUntilAsync(t => t.Contains(": SSE stream", StringComparison.Ordinal) || t.Contains("retry: 5000", StringComparison.Ordinal), Timeout);
                    Assert.True(stream.RawText.StartsWith(": SSE stream", StringComparison.Ordinal), $"{step}, subscriber {i}: nginx's stand-in instead of a stream: {stream.RawText}");
                }
            }

            await first.DisposeAsync(); // its address refuses connections: nginx marks it failed
            first = null;
            await SubscribeAsync(4, "first-down");
            first = await StartOnAsync(ports[0]);
            await Task.Delay(TimeSpan.FromSeconds(11)); // past nginx's fail_timeout (10 s): the first instance is tried again
            await SubscribeAsync(4, "first-back");

            await second.DisposeAsync();
            second = null;
            await SubscribeAsync(6, "second-down");
        }
        finally
        {
            foreach (var stream in streams)
            {
                await stream.DisposeAsync();
            }

            foreach (var gateway in new[] { first, second })
            {
                if (gateway is not null)
                {
                    await gateway.DisposeAsync();
                }
            }
        }
    }

    /// <summary>
    /// The example's answer for a missing gateway (<c>error_page 502 504</c>: an empty event stream with
    /// <c>retry: 5000</c>) keeps a page's EventSource retrying through a restart of the only instance.
    /// </summary>
    [Fact]
    public async Task OneInstanceBehindExampleNginx_GatewayRestarts_PageKeepsRetryingAndResumesWithoutLoss()
    {
        var queue = broker.UniqueQueueName(nameof(OneInstanceBehindExampleNginx_GatewayRestarts_PageKeepsRetryingAndResumesWithoutLoss));
        var port = FreePort.Next();
        await using var site = await PageServer.StartAsync();
        await RestartBehindExampleNginxAsync(
            queue, port, () => StartOnAsync(port), nginxPort => site.HarnessUrl(PageServer.GatewayUrl(nginxPort, $"/?id={queue}")));
    }

    /// <summary>
    /// The stand-in for a page whose EventSource sends cookies (<c>{ withCredentials: true }</c>, a queue named by
    /// <c>${cookie:sid}</c>, the README's "Cookies across origins"): the browser takes an answer to it only when it names
    /// the page's origin and allows credentials. The example's stand-in answered <c>Access-Control-Allow-Origin: *</c>,
    /// so Chromium blocked it and closed the EventSource for good at the gateway's first restart.
    /// </summary>
    [Fact]
    public async Task OneInstanceBehindExampleNginx_CredentialedPage_GatewayRestarts_PageKeepsRetryingAndResumes()
    {
        var queue = broker.UniqueQueueName(nameof(OneInstanceBehindExampleNginx_CredentialedPage_GatewayRestarts_PageKeepsRetryingAndResumes));
        var port = FreePort.Next();
        await using var site = await PageServer.StartAsync();
        await RestartBehindExampleNginxAsync(
            queue,
            port,
            () => GatewayServer.StartAsync(broker.AmqpUrl, options =>
            {
                options.Server.Address = $"127.0.0.1:{port}";
                options.Queue.Pattern = "${cookie:sid}";
                options.Header.Cors["Access-Control-Allow-Origin"] = site.Origin;
                options.Header.Cors["Access-Control-Allow-Credentials"] = "true";
            }),
            nginxPort => site.HarnessUrl(PageServer.GatewayUrl(nginxPort), withCredentials: true, sessionCookie: queue));
    }

    /// <summary>
    /// Why the example has that stand-in, and why the README says to run two instances: with its only
    /// gateway down, plain nginx answers the reconnecting EventSource with its 502 error page (no CORS
    /// headers, so the page cannot even read it), and a browser never retries after that.
    /// </summary>
    [Fact]
    public async Task OneInstanceBehindNginxWithoutTheStandIn_GatewayStops_EventSourceGivesUpForGood()
    {
        var queue = broker.UniqueQueueName(nameof(OneInstanceBehindNginxWithoutTheStandIn_GatewayStops_EventSourceGivesUpForGood));
        GatewayServer? gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var site = await PageServer.StartAsync();
        var page = await chromium.NewPageAsync();
        var requests = 0;
        try
        {
            await using var nginx = await ExampleNginx.StartAsync([gateway.Port],
                alter: site => site.ReplaceOnce("error_page 502 504 = @eventsourced_unavailable;", ""));
            var streamUrl = PageServer.GatewayUrl(nginx.Port, $"/?id={queue}");
            page.Request += (_, request) => { if (request.Url == streamUrl) { Interlocked.Increment(ref requests); } };
            await page.GotoAsync(site.HarnessUrl(streamUrl));
            await Harness.WaitUntilAsync(page, "h.opens === 1", Timeout);

            await gateway.DisposeAsync();
            gateway = null;

            await Harness.WaitUntilAsync(page, $"h.states.includes({HarnessState.Closed})", Timeout);
            await Task.Delay(TimeSpan.FromSeconds(4)); // past EventSource's 3 s reconnection delay: no third request comes
            Assert.Equal(2, Volatile.Read(ref requests));
            var answers = nginx.AccessLog.Split('\n').Where(line => line.Contains($"GET /?id={queue} ", StringComparison.Ordinal))
                .Select(line => line.Split("\" ")[1].Split(' ')[0]).Order().ToList();
            Assert.Equal(["200", "502"], answers);
            Assert.Equal([HarnessState.Connecting, HarnessState.Closed], (await Harness.ReadAsync(page)).States);
        }
        finally
        {
            await page.Context.CloseAsync();
            if (gateway is not null)
            {
                await gateway.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task TwoInstancesBehindTheExampleNginx_WithItsPollAffinity_EveryPollReachesTheInstanceHoldingTheQueue()
    {
        // Round robin sent every other poll to the instance that did not hold the queue: 503 for poll.hold (30 s).
        var queue = broker.UniqueQueueName(nameof(TwoInstancesBehindTheExampleNginx_WithItsPollAffinity_EveryPollReachesTheInstanceHoldingTheQueue));
        await using var first = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Poll.WaitSeconds = 1);
        await using var second = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Poll.WaitSeconds = 1);
        await using var nginx = await ExampleNginx.StartAsync([first.Port, second.Port], alter: site => site
            .ReplaceOnce("    # hash $eventsourced_affinity consistent;", "    hash $eventsourced_affinity consistent;"));
        using var client = new HttpClient { BaseAddress = nginx.BaseAddress, Timeout = Timeout };

        var answers = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++)
        {
            using var response = await client.GetAsync($"/poll?id={queue}");
            answers.Add(response.StatusCode);
        }

        Assert.All(answers, status => Assert.Equal(HttpStatusCode.OK, status));
        Assert.Equal(0, await BusyCountAsync(first) + await BusyCountAsync(second));
    }

    [Fact]
    public async Task TwoInstancesBehindTheExampleNginx_WithItsPollAffinity_PollsWithoutAnIdParameterReachOneInstance()
    {
        // The queue named by a cookie (or a token), no ?id=: the affinity's key was $arg_id alone, empty here, and nginx
        // hashes an empty key round robin: every other poll went to the instance that did not hold the queue (503).
        var queue = broker.UniqueQueueName(nameof(TwoInstancesBehindTheExampleNginx_WithItsPollAffinity_PollsWithoutAnIdParameterReachOneInstance));
        await using var first = await GatewayServer.StartAsync(broker.AmqpUrl, o => (o.Poll.WaitSeconds, o.Queue.Pattern) = (1, "${cookie:sid}"));
        await using var second = await GatewayServer.StartAsync(broker.AmqpUrl, o => (o.Poll.WaitSeconds, o.Queue.Pattern) = (1, "${cookie:sid}"));
        await using var nginx = await ExampleNginx.StartAsync([first.Port, second.Port], alter: site => site
            .ReplaceOnce("    # hash $eventsourced_affinity consistent;", "    hash $eventsourced_affinity consistent;"));
        using var client = new HttpClient { BaseAddress = nginx.BaseAddress, Timeout = Timeout };

        var answers = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/poll");
            request.Headers.Add("Cookie", $"sid={queue}");
            using var response = await client.SendAsync(request);
            answers.Add(response.StatusCode);
        }

        Assert.All(answers, status => Assert.Equal(HttpStatusCode.OK, status));
        Assert.Equal(0, await BusyCountAsync(first) + await BusyCountAsync(second));
    }

    /// <summary>
    /// A page reads <paramref name="queue"/> through the example nginx in front of the one gateway on <paramref name="port"/>
    /// (<paramref name="start"/> starts it); the gateway stops, a message comes while it is down, it starts again: the page
    /// got nginx's stand-in meanwhile, could read it (never closed), and has every message once, in order.
    /// </summary>
    private async Task RestartBehindExampleNginxAsync(string queue, int port, Func<Task<GatewayServer>> start, Func<int, string> pageUrl)
    {
        GatewayServer? gateway = await start();
        var page = await chromium.NewPageAsync();
        try
        {
            await using var nginx = await ExampleNginx.StartAsync([port]);
            await using var amqp = await broker.ConnectAsync(queue);
            await page.GotoAsync(pageUrl(nginx.Port));
            await Harness.WaitUntilAsync(page, "h.opens === 1", Timeout);
            await amqp.PublishAsync(queue, "before");
            await Harness.WaitUntilAsync(page, "h.events.length === 1", Timeout);
            await Wait.UntilAsync(async () => (await broker.Rabbitmqctl.FindQueueAsync(queue))?.Messages == 0, Timeout, "the first message is acknowledged");

            await gateway.DisposeAsync();
            gateway = null;
            await amqp.PublishAsync(queue, "while down");
            // The stream ended; the reconnection got nginx's stand-in, which the page could read: an open, then its end,
            // still retrying (a page that could not read it is closed for good).
            await Harness.WaitUntilAsync(page, $"(h.opens >= 2 && h.errors >= 2) || h.states.includes({HarnessState.Closed})", Timeout);
            Assert.Contains(" 200 13 ", nginx.AccessLog, StringComparison.Ordinal); // "retry: 5000\n\n"
            Assert.All((await Harness.ReadAsync(page)).States, state => Assert.Equal(HarnessState.Connecting, state));

            gateway = await start();
            await Harness.WaitUntilAsync(page, "h.events.length >= 2", Timeout);
            await amqp.PublishAsync(queue, "after");
            await Harness.WaitUntilAsync(page, "h.events.includes('after')", Timeout);
            var seen = await Harness.ReadAsync(page);
            Assert.Equal(["before", "while down", "after"], seen.Events);
            Assert.All(seen.States, state => Assert.Equal(HarnessState.Connecting, state));
        }
        finally
        {
            await page.Context.CloseAsync();
            if (gateway is not null)
            {
                await gateway.DisposeAsync();
            }
        }
    }

    private Task<GatewayServer> StartOnAsync(int port) =>
        GatewayServer.StartAsync(broker.AmqpUrl, options => options.Server.Address = $"127.0.0.1:{port}");

    private static async Task<int> StreamCountAsync(GatewayServer gateway)
    {
        using var client = new HttpClient { BaseAddress = gateway.BaseAddress };
        using var vars = JsonDocument.Parse(await client.GetStringAsync("/debug/vars"));
        return vars.RootElement.GetProperty("streams").GetInt32();
    }

    private static async Task<double> BusyCountAsync(GatewayServer gateway)
    {
        using var client = new HttpClient { BaseAddress = gateway.BaseAddress };
        var line = (await client.GetStringAsync("/metrics")).Split('\n')
            .Single(l => l.StartsWith("eventsourced_streams_total{outcome=\"busy\"} ", StringComparison.Ordinal));
        return double.Parse(line.Split(' ')[^1], System.Globalization.CultureInfo.InvariantCulture);
    }
}
