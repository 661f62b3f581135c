using System.Diagnostics;
using System.Net;
using Eventsourced.EndToEndTests.Infrastructure;
using Xunit.Abstractions;

namespace Eventsourced.EndToEndTests.Nginx;

/// <summary>
/// <c>examples/nginx/eventsourced.conf</c>, as shipped except for addresses and timeouts, run by Debian's
/// nginx in front of a real gateway.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class NginxProxyTests(BrokerFixture broker, ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task ExampleConfig_EveryMessage_ArrivesThroughNginxAsPromptlyAsDirect()
    {
        const int messages = 12;
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var nginx = await StartExampleAsync(gateway);
        var direct = broker.UniqueQueueName("nginx-prompt-direct");
        var proxied = broker.UniqueQueueName("nginx-prompt-proxied");
        using var directClient = BrowserLikeClient(gateway.BaseAddress);
        using var proxyClient = BrowserLikeClient(nginx.BaseAddress);
        await using var directStream = await OpenAsync(directClient, direct);
        await using var proxiedStream = await OpenAsync(proxyClient, proxied);
        Assert.Equal("no", Assert.Single(directStream.Response.Headers.GetValues("X-Accel-Buffering")));
        Assert.Empty(proxiedStream.Response.Content.Headers.ContentEncoding);
        await using var amqp = await broker.ConnectAsync(nameof(ExampleConfig_EveryMessage_ArrivesThroughNginxAsPromptlyAsDirect));

        var directTimes = new List<double>();
        var proxiedTimes = new List<double>();
        for (var i = 1; i <= messages; i++)
        {
            // One small message at a time: a buffering proxy would sit on it.
            directTimes.Add(await TimeDeliveryAsync(amqp, direct, directStream, i));
            proxiedTimes.Add(await TimeDeliveryAsync(amqp, proxied, proxiedStream, i));
        }

        output.WriteLine($"publish-to-arrival, ms: direct [{string.Join(", ", directTimes.Select(t => t.ToString("0.0")))}]");
        output.WriteLine($"publish-to-arrival, ms: nginx  [{string.Join(", ", proxiedTimes.Select(t => t.ToString("0.0")))}]");
        Assert.Equal(Enumerable.Range(1, messages).Select(i => $"message {i}"), proxiedStream.Events());
        // Through loopback nginx adds well under a millisecond; the margins absorb a busy 2-core machine.
        Assert.All(proxiedTimes, t => Assert.True(t < 1000, $"a message took {t:0} ms through nginx"));
        Assert.True(Median(proxiedTimes) < Median(directTimes) + 50,
            $"median through nginx {Median(proxiedTimes):0.0} ms, direct {Median(directTimes):0.0} ms");
    }

    /// <summary>
    /// An nginx that buffers and compresses event streams (the opposite of the example) holds a small event
    /// back, so the promptness check above can fail; the gateway's <c>X-Accel-Buffering: no</c> alone
    /// switches that nginx to pass-through for its streams.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task BufferingAndGzipInsteadOfExampleSettings_DeliverPromptlyOnlyWithXAccelBuffering(bool gatewaySendsXAccelBuffering)
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, options =>
        {
            if (!gatewaySendsXAccelBuffering)
            {
                options.Header.Sse.Remove("X-Accel-Buffering");
            }
        });
        await using var nginx = await StartExampleAsync(gateway, alter: site => site
            .ReplaceOnce("proxy_buffering off;", "proxy_buffering on;")
            .ReplaceOnce("gzip off;", "gzip on; gzip_types text/event-stream; gzip_min_length 1;"));
        var queue = broker.UniqueQueueName("nginx-buffered");
        using var client = BrowserLikeClient(nginx.BaseAddress, decompress: true);
        using var stop = new CancellationTokenSource();
        var receive = ReceiveTextAsync(client, queue, "data: held back", stop.Token);
        await using var amqp = await broker.ConnectAsync(nameof(BufferingAndGzipInsteadOfExampleSettings_DeliverPromptlyOnlyWithXAccelBuffering));
        await amqp.UntilConsumersAsync(queue, 1, Timeout, $"the gateway consumes {queue} for the request through nginx");

        await amqp.PublishAsync(queue, "held back");

        var arrived = await Task.WhenAny(receive, Task.Delay(TimeSpan.FromSeconds(3))) == receive;
        await stop.CancelAsync();
        if (gatewaySendsXAccelBuffering)
        {
            Assert.True(arrived, "X-Accel-Buffering: no did not stop nginx from holding the message back for 3 s");
            await receive;
        }
        else
        {
            Assert.False(arrived, "the message came through a buffering, compressing nginx within 3 s: the promptness test could not tell");
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => receive);
        }
    }

    [Fact]
    public async Task ExampleConfig_ShortReadTimeout_HeartbeatsKeepIdleStreamOpen()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, options => options.Server.HeartbeatSeconds = 1);
        await using var nginx = await StartExampleAsync(gateway, readTimeout: "2s");
        var queue = broker.UniqueQueueName("nginx-heartbeat");
        using var client = BrowserLikeClient(nginx.BaseAddress);
        await using var stream = await OpenAsync(client, queue);
        var idle = Stopwatch.StartNew();

        // Idle for three times nginx's read timeout: only heartbeats flow.
        var open = await stream.ReadUntilAsync(text => CountHeartbeats(text) >= 6, Timeout);
        output.WriteLine($"{CountHeartbeats(stream.RawText)} heartbeats in {idle.Elapsed.TotalSeconds:0.0} s");
        Assert.True(open, $"nginx ended the stream after {idle.Elapsed.TotalSeconds:0.0} s:\n{stream.RawText}\n{nginx.ErrorLog}");
        Assert.True(idle.Elapsed > TimeSpan.FromSeconds(5), $"six heartbeats after only {idle.Elapsed.TotalSeconds:0.0} s");

        await using var amqp = await broker.ConnectAsync(nameof(ExampleConfig_ShortReadTimeout_HeartbeatsKeepIdleStreamOpen));
        await amqp.PublishAsync(queue, "still here");
        Assert.Equal(["still here"], await stream.ReadEventsAsync(1, Timeout));
    }

    /// <summary>The heartbeat check above can fail: without heartbeats nginx closes the idle stream.</summary>
    [Fact]
    public async Task ExampleConfig_ShortReadTimeoutWithoutHeartbeats_NginxClosesIdleStream()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, options => options.Server.HeartbeatSeconds = 0);
        await using var nginx = await StartExampleAsync(gateway, readTimeout: "2s");
        using var client = BrowserLikeClient(nginx.BaseAddress);
        await using var stream = await OpenAsync(client, broker.UniqueQueueName("nginx-no-heartbeat"));
        var idle = Stopwatch.StartNew();

        await stream.WaitForEndAsync(Timeout);

        output.WriteLine($"nginx ended the idle stream after {idle.Elapsed.TotalSeconds:0.0} s");
        Assert.True(idle.Elapsed > TimeSpan.FromSeconds(1.5), $"the stream ended after only {idle.Elapsed.TotalSeconds:0.0} s");
        Assert.Contains("upstream timed out", nginx.ErrorLog, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExampleConfig_DeniesTheObservabilityEndpointsToThePublic_InEverySpelling()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var nginx = await StartExampleAsync(gateway);

        await AssertObservabilityDeniedAsync(nginx.BaseAddress, "");
        Assert.StartsWith("HTTP/1.1 200", await RawGetAsync(nginx.BaseAddress, "/readyz"), StringComparison.Ordinal);
        // Other spellings pass through to the gateway, where they are the stream (no id here: 400), never the metrics.
        Assert.StartsWith("HTTP/1.1 400", await RawGetAsync(nginx.BaseAddress, "/METRICS"), StringComparison.Ordinal);
    }

    /// <summary>
    /// The example under a sub-path of another site, as the README says: every transport answers below <c>/push/</c>, and the
    /// observability endpoints, which reach the gateway as <c>/metrics</c> and <c>/debug/vars</c>, are denied there in every spelling.
    /// </summary>
    [Fact]
    public async Task ExampleConfig_UnderASubPath_ServesEveryTransport_AndDeniesTheObservabilityEndpoints()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Poll.WaitSeconds = 1);
        await using var nginx = await StartExampleAsync(gateway, alter: site => site
            .ReplaceOnce("location / {", "location /push/ {")
            .ReplaceOnce("proxy_pass http://eventsourced;", "proxy_pass http://eventsourced/;")
            .ReplaceOnce("location = /metrics {", "location = /push/metrics {")
            .ReplaceOnce("location = /debug/vars {", "location = /push/debug/vars {"));
        var queue = broker.UniqueQueueName(nameof(ExampleConfig_UnderASubPath_ServesEveryTransport_AndDeniesTheObservabilityEndpoints));
        using var client = new HttpClient { BaseAddress = nginx.BaseAddress, Timeout = Timeout };

        using (var stream = await client.GetAsync($"/push/?id={queue}", HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
            Assert.Equal("text/event-stream", stream.Content.Headers.ContentType?.MediaType);
        }

        using (var topic = await client.GetAsync($"/push/topics/{queue}", HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, topic.StatusCode);
        }

        await Wait.UntilAsync(
            async () =>
            {
                using var poll = await client.GetAsync($"/push/poll?id={queue}");
                return poll.StatusCode == HttpStatusCode.OK && await poll.Content.ReadAsStringAsync() == "[]";
            },
            Timeout,
            "a long-poll through the sub-path once the stream let its queue go");
        Assert.StartsWith("HTTP/1.1 426", await RawGetAsync(nginx.BaseAddress, $"/push/ws?id={queue}"), StringComparison.Ordinal);
        await AssertObservabilityDeniedAsync(nginx.BaseAddress, "/push");
        Assert.StartsWith("HTTP/1.1 200", await RawGetAsync(nginx.BaseAddress, "/push/readyz"), StringComparison.Ordinal);
    }

    /// <summary>
    /// The metrics and the runtime's variables, which reach the gateway as <c>/metrics</c> and <c>/debug/vars</c>, are not served
    /// below <paramref name="prefix"/> in any spelling nginx would pass on, and their exact paths get nginx's 403.
    /// </summary>
    private static async Task AssertObservabilityDeniedAsync(Uri nginx, string prefix)
    {
        foreach (var target in new[] { "/metrics", "/debug/vars", "/%6detrics", "/debug/%76ars", "//metrics", "/metrics?x=1" })
        {
            var answer = await RawGetAsync(nginx, prefix + target);
            Assert.DoesNotContain("eventsourced_streams_total", answer, StringComparison.Ordinal);
            Assert.DoesNotContain("\"memstats\"", answer, StringComparison.Ordinal);
        }

        Assert.StartsWith("HTTP/1.1 403", await RawGetAsync(nginx, prefix + "/metrics"), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 403", await RawGetAsync(nginx, prefix + "/debug/vars"), StringComparison.Ordinal);
    }

    /// <summary>
    /// An EventSource passes its token in the query (<c>?access_token=</c>): the example's access log must not
    /// keep it, while the rest of the request line (path, the queue's parameter) stays readable.
    /// </summary>
    [Fact]
    public async Task ExampleConfig_AccessLog_LeavesOutTheSubscriberToken()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var nginx = await StartExampleAsync(gateway);

        // Answers that end at once: 400 (no id) and 426 (no upgrade), each logged when it ends.
        Assert.StartsWith("HTTP/1.1 400", await RawGetAsync(nginx.BaseAddress, "/?access_token=eyJ.first-secret.x"), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 426", await RawGetAsync(nginx.BaseAddress, "/ws?id=q-7&access_token=eyJ.second-secret.x&access_token=eyJ.third-secret.x"), StringComparison.Ordinal);
        // Percent-encoded by a client, the same parameter for the gateway (it decodes names); another case is cut too.
        Assert.StartsWith("HTTP/1.1 426", await RawGetAsync(nginx.BaseAddress, "/ws?id=q-8&access%5Ftoken=eyJ.fourth-secret.x"), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 426", await RawGetAsync(nginx.BaseAddress, "/ws?id=q-9&Access_Token=eyJ.fifth-secret.x"), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 426", await RawGetAsync(nginx.BaseAddress, "/ws?id=q-10&%61ccess_%74oken=eyJ.sixth-secret.x"), StringComparison.Ordinal);

        var log = nginx.AccessLog;
        Assert.DoesNotContain("secret", log, StringComparison.Ordinal);
        Assert.Contains("\"GET /?access_token=*** HTTP/1.1\" 400 ", log, StringComparison.Ordinal);
        Assert.Contains("\"GET /ws?id=q-7&access_token=*** HTTP/1.1\" 426 ", log, StringComparison.Ordinal);
        Assert.Contains("\"GET /ws?id=q-8&access%5Ftoken=*** HTTP/1.1\" 426 ", log, StringComparison.Ordinal);
        Assert.Contains("\"GET /ws?id=q-9&Access_Token=*** HTTP/1.1\" 426 ", log, StringComparison.Ordinal);
        Assert.Contains("\"GET /ws?id=q-10&%61ccess_%74oken=*** HTTP/1.1\" 426 ", log, StringComparison.Ordinal);
    }

    private static async Task<string> RawGetAsync(Uri server, string target)
    {
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(server.Host, server.Port);
        await using var stream = client.GetStream();
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes($"GET {target} HTTP/1.1\r\nHost: {server.Authority}\r\nConnection: close\r\n\r\n"));
        using var received = new MemoryStream();
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await stream.CopyToAsync(received, bound.Token);
        return System.Text.Encoding.UTF8.GetString(received.ToArray());
    }

    private static Task<Infrastructure.Nginx> StartExampleAsync(GatewayServer gateway, string? readTimeout = null, Func<string, string>? alter = null) =>
        ExampleNginx.StartAsync([gateway.Port], readTimeout, alter);

    /// <summary>
    /// A client that offers compression, as browsers do. Without <paramref name="decompress"/> it sees the
    /// bytes as they come, so a compressing proxy shows (<c>Content-Encoding</c>, unparsable events).
    /// </summary>
    private static HttpClient BrowserLikeClient(Uri baseAddress, bool decompress = false)
    {
        var client = new HttpClient(new SocketsHttpHandler
        {
            AutomaticDecompression = decompress ? DecompressionMethods.All : DecompressionMethods.None,
            UseCookies = false,
            PooledConnectionLifetime = System.Threading.Timeout.InfiniteTimeSpan,
        })
        {
            BaseAddress = baseAddress,
            Timeout = System.Threading.Timeout.InfiniteTimeSpan,
        };
        if (!decompress)
        {
            client.DefaultRequestHeaders.AcceptEncoding.ParseAdd("gzip, deflate, br");
        }

        return client;
    }

    private static async Task<SseClient> OpenAsync(HttpClient client, string queue)
    {
        var stream = await SseClient.OpenAsync(client, $"/?id={Uri.EscapeDataString(queue)}", null, CancellationToken.None);
        if (stream.Status != HttpStatusCode.OK)
        {
            Assert.Fail($"{client.BaseAddress} answered {(int)stream.Status} {stream.Response.Headers}: {await stream.ReadBodyAsync()}");
        }

        Assert.True(await stream.ReadUntilAsync(text => text.StartsWith(": SSE stream\n\n", StringComparison.Ordinal), Timeout),
            $"no opening comment from {client.BaseAddress}");
        return stream;
    }

    /// <summary>Requests the stream of <paramref name="queue"/> and reads it until <paramref name="expected"/> arrived.</summary>
    private static async Task ReceiveTextAsync(HttpClient client, string queue, string expected, CancellationToken cancellationToken)
    {
        using var response = await client.GetAsync($"/?id={Uri.EscapeDataString(queue)}", HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var reader = new StreamReader(body);
        var text = new System.Text.StringBuilder();
        var buffer = new char[1024];
        while (!text.ToString().Contains(expected, StringComparison.Ordinal))
        {
            var read = await reader.ReadAsync(buffer, cancellationToken);
            if (read == 0)
            {
                throw new InvalidOperationException($"the stream ended before `{expected}`: {text}");
            }

            text.Append(buffer, 0, read);
        }
    }

    private static async Task<double> TimeDeliveryAsync(AmqpTestClient amqp, string queue, SseClient stream, int number)
    {
        var clock = Stopwatch.StartNew();
        await amqp.PublishAsync(queue, $"message {number}");
        await stream.ReadEventsAsync(number, Timeout);
        return clock.Elapsed.TotalMilliseconds;
    }

    private static int CountHeartbeats(string text) =>
        text.Split(": heartbeat\n\n", StringSplitOptions.None).Length - 1;

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }
}
