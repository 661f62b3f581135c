using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography.X509Certificates;
using Eventsourced.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// <c>server.tls</c>: HTTPS with HTTP/2 and HTTP/1.1 on <c>server.address</c>, streams over both acknowledged as
/// the README says (once the client's TCP has the bytes: over HTTP/2, the bytes of the stream's own frames), and the
/// certificate reloaded when its files change.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class HttpsTests(BrokerFixture broker) : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("es-tls-");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public async Task Http2_TenStreamsOnOneConnection_EveryMessageArrivesAndIsAcknowledged()
    {
        using var certificate = TestCertificate.Create();
        await using var gateway = await StartAsync(certificate);
        using var client = Client(gateway, certificate, _ => { });
        var queues = Enumerable.Range(0, 10).Select(i => broker.UniqueQueueName($"h2-{i}")).ToArray();

        var streams = new List<SseClient>();
        try
        {
            foreach (var queue in queues)
            {
                streams.Add(await SseClient.OpenAsync(client, $"/?id={queue}", Http2, CancellationToken.None));
            }

            Assert.All(streams, s => Assert.Equal(HttpStatusCode.OK, s.Status));
            Assert.All(streams, s => Assert.Equal(HttpVersion.Version20, s.Response.Version));
            await using var amqp = await broker.ConnectAsync(nameof(HttpsTests));
            foreach (var queue in queues)
            {
                await amqp.PublishAsync(queue, $"to {queue}");
            }

            for (var i = 0; i < queues.Length; i++)
            {
                Assert.Equal([$"to {queues[i]}"], await streams[i].ReadEventsAsync(1, Patience));
            }

            // Each stream's message is acknowledged once the client's TCP has its frames: none waits in its queue.
            foreach (var queue in queues)
            {
                await Wait.UntilAsync(async () => await broker.Rabbitmqctl.FindQueueAsync(queue) is { Messages: 0 }, Patience, $"{queue} acknowledged");
            }
        }
        finally
        {
            foreach (var stream in streams)
            {
                await stream.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// A stream's flush over HTTP/2 only hands its bytes to Kestrel's buffer for the stream; they go out as the client's
    /// flow-control window allows. A client that stops reading (its window closed) had every message Kestrel buffered
    /// acknowledged to the broker, never sent, and lost when it went away.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Http2_AClientThatStopsReading_OnlyWhatItsWindowLetThroughIsAcknowledged(bool webSocket)
    {
        const int Messages = 300;
        const int Window = 65535; // HttpClient's HTTP/2 stream window, opened further only as the application reads
        using var certificate = TestCertificate.Create();
        await using var gateway = await StartAsync(certificate);
        var queue = broker.UniqueQueueName(webSocket ? "h2-ws-stalled" : "h2-stalled");
        using var handler = new SocketsHttpHandler
        {
            InitialHttp2StreamWindowSize = Window,
            SslOptions = { RemoteCertificateValidationCallback = (_, shown, _, _) => new X509Certificate2(shown!).Thumbprint == certificate.Certificate.Thumbprint },
        };
        using var client = new HttpClient(handler) { BaseAddress = new Uri($"https://127.0.0.1:{gateway.Port}"), Timeout = Timeout.InfiniteTimeSpan };
        using var socket = new ClientWebSocket();
        SseClient? sse = null;
        if (webSocket)
        {
            socket.Options.HttpVersion = HttpVersion.Version20;
            socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
            await socket.ConnectAsync(new Uri($"wss://127.0.0.1:{gateway.Port}/ws?id={queue}"), new HttpMessageInvoker(handler), CancellationToken.None);
        }
        else
        {
            sse = await SseClient.OpenAsync(client, $"/?id={queue}", Http2, CancellationToken.None);
            Assert.Equal(HttpVersion.Version20, sse.Response.Version);
        }

        await Wait.UntilAsync(async () => await broker.Rabbitmqctl.FindQueueAsync(queue) is { Consumers: 1 }, Patience, $"{queue} consumed");
        await using var amqp = await broker.ConnectAsync(nameof(HttpsTests));
        var body = new string('x', 1000);
        for (var i = 0; i < Messages; i++)
        {
            await amqp.PublishAsync(queue, body);
        }

        // Long enough for the gateway to fill the window and Kestrel's buffer for the stream (tens of milliseconds).
        await Task.Delay(TimeSpan.FromSeconds(3));
        socket.Abort();
        if (sse is not null)
        {
            await sse.DisposeAsync();
        }

        handler.Dispose();
        await Wait.UntilAsync(async () => await broker.Rabbitmqctl.FindQueueAsync(queue) is { Consumers: 0 }, Patience, $"{queue} let go");

        // At most the window's worth of messages reached the client (each is more than 1,000 bytes on the stream).
        var left = (await broker.Rabbitmqctl.FindQueueAsync(queue))!.Messages;
        Assert.True(left >= Messages - (Window / 1000), $"{Messages - left} of {Messages} acknowledged; the client's window lets at most {Window / 1000} through");

        // Every message written and not acknowledged is counted given back. Whether any is depends on where the window
        // closed against the gateway's flushes (a flush Kestrel has not framed yet is not counted written), so this test
        // only checks the books; Http2_WrittenButNeverAcknowledgedByTheClientsTcp_IsCountedRequeued makes it certain.
        await AssertRequeuedAddsUpAsync(gateway, certificate, queue, Messages);
    }

    [Fact]
    public async Task Http2_WrittenButNeverAcknowledgedByTheClientsTcp_IsCountedRequeued()
    {
        // A client that opens its HTTP/2 windows wide and then stops reading its socket: its TCP acknowledges what its
        // receive buffer (made small) takes, while the gateway's flushes complete into its own send buffer. Those
        // messages went out, were counted written, and must come back counted tcp_unacknowledged when the client goes.
        const int Messages = 300;
        using var certificate = TestCertificate.Create();
        await using var gateway = await StartAsync(certificate);
        var queue = broker.UniqueQueueName("h2-unread");
        using var tcp = new System.Net.Sockets.TcpClient { ReceiveBufferSize = 4096 };
        await tcp.ConnectAsync(IPAddress.Loopback, gateway.Port);
        await using var tls = await Http2ConnectAsync(tcp, initialWindow: 1 << 24);
        var path = System.Text.Encoding.ASCII.GetBytes($"/?id={queue}");
        var authority = System.Text.Encoding.ASCII.GetBytes($"127.0.0.1:{gateway.Port}");
        using (var request = new MemoryStream())
        {
            Frame(request, type: 0x8, flags: 0, stream: 0, [0x01, 0, 0, 0]); // WINDOW_UPDATE of the connection by 16 MiB
            // HPACK: :method GET, :scheme https (static 2, 7), :path and :authority as literals of name index 4 and 1.
            Frame(request, type: 0x1, flags: 0x5, stream: 1, [0x82, 0x87, 0x04, (byte)path.Length, .. path, 0x01, (byte)authority.Length, .. authority]);
            await tls.WriteAsync(request.ToArray());
        }

        var frames = Http2FramesAsync(tls).GetAsyncEnumerator();
        Assert.True(await NextAsync(frames, f => f.Type == 0x1 && f.Stream == 1), "the stream's response headers");
        await Wait.UntilAsync(async () => await broker.Rabbitmqctl.FindQueueAsync(queue) is { Consumers: 1 }, Patience, $"{queue} consumed");
        await using (var amqp = await broker.ConnectAsync(nameof(HttpsTests)))
        {
            for (var i = 0; i < Messages; i++)
            {
                await amqp.PublishAsync(queue, new string('x', 1000));
            }
        }

        // Nothing more is read: the gateway fills the client's receive buffer and its own send buffer, then waits.
        await Wait.UntilAsync(
            async () => MetricsText.Value(await MetricsAsync(gateway, certificate), "eventsourced_messages_delivered_total") >= 64,
            Patience,
            "a prefetch's worth of messages written");
        await Task.Delay(TimeSpan.FromSeconds(1));
        tcp.Client.Close(0);
        await Wait.UntilAsync(async () => await broker.Rabbitmqctl.FindQueueAsync(queue) is { Consumers: 0 }, Patience, $"{queue} let go");
        var requeued = await AssertRequeuedAddsUpAsync(gateway, certificate, queue, Messages);
        Assert.True(requeued >= 16, $"{requeued} counted requeued; more than the client's 4 KB receive buffer took was written");
    }

    /// <summary>
    /// After a stream over HTTP/2 ended: what it had written and the broker did not get acknowledged is what the gateway
    /// counts given back (tcp_unacknowledged). Waits for the count, taken when the stream's last acknowledgement is settled.
    /// </summary>
    private async Task<long> AssertRequeuedAddsUpAsync(GatewayServer gateway, TestCertificate certificate, string queue, int published)
    {
        long delivered = 0, acknowledged = 0, requeued = 0;
        var settled = false;
        for (var deadline = DateTime.UtcNow + Patience; !settled && DateTime.UtcNow < deadline; await Task.Delay(200))
        {
            acknowledged = published - (await broker.Rabbitmqctl.FindQueueAsync(queue))!.Messages;
            var metrics = await MetricsAsync(gateway, certificate);
            delivered = MetricsText.Value(metrics, "eventsourced_messages_delivered_total");
            requeued = MetricsText.Value(metrics, "eventsourced_messages_requeued_total{reason=\"tcp_unacknowledged\"}");
            settled = delivered - acknowledged == requeued;
        }

        Assert.True(settled, $"{delivered} written, {acknowledged} acknowledged, {requeued} counted requeued");
        return requeued;
    }

    private static async Task<string> MetricsAsync(GatewayServer gateway, TestCertificate certificate)
    {
        using var client = Client(gateway, certificate, _ => { });
        return await client.GetStringAsync("/metrics");
    }

    [Theory]
    [InlineData("/?id={0}", "the event stream")]
    [InlineData("/poll?id={0}", "long-polls")]
    public async Task Http2_WebSocketAtAnotherTransportsPath_Is400SayingWhereWebSocketsAre_NothingDeclared(string path, string serves)
    {
        using var certificate = TestCertificate.Create();
        await using var gateway = await StartAsync(certificate);
        var queue = broker.UniqueQueueName("h2-ws-elsewhere");
        using var handler = new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, shown, _, _) => new X509Certificate2(shown!).Thumbprint == certificate.Certificate.Thumbprint },
        };
        using var socket = new ClientWebSocket();
        socket.Options.HttpVersion = HttpVersion.Version20;
        socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        socket.Options.CollectHttpResponseDetails = true;

        var uri = new Uri($"wss://127.0.0.1:{gateway.Port}{string.Format(System.Globalization.CultureInfo.InvariantCulture, path, queue)}");
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(uri, new HttpMessageInvoker(handler), CancellationToken.None));

        // Not 405 "method not allowed" for HTTP/2's CONNECT: the answer an HTTP/1.1 upgrade at that path gets.
        Assert.Equal(HttpStatusCode.BadRequest, socket.HttpStatusCode);
        var reason = Assert.Single(socket.HttpResponseHeaders!["X-Status-Reason"]);
        Assert.StartsWith($"not a WebSocket endpoint: this path serves {serves}; WebSockets are at /ws", reason, StringComparison.Ordinal);
        Assert.Null(await broker.Rabbitmqctl.FindQueueAsync(queue));
    }

    [Fact]
    public async Task Http2_WebSocketAtTheWebSocketPath_Streams()
    {
        using var certificate = TestCertificate.Create();
        await using var gateway = await StartAsync(certificate);
        var queue = broker.UniqueQueueName("h2-ws");
        using var handler = new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, shown, _, _) => new X509Certificate2(shown!).Thumbprint == certificate.Certificate.Thumbprint },
        };
        using var socket = new ClientWebSocket();
        socket.Options.HttpVersion = HttpVersion.Version20;
        socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;

        await socket.ConnectAsync(new Uri($"wss://127.0.0.1:{gateway.Port}/ws?id={queue}"), new HttpMessageInvoker(handler), CancellationToken.None);
        await Wait.UntilAsync(async () => await broker.Rabbitmqctl.FindQueueAsync(queue) is { Consumers: 1 }, Patience, $"{queue} consumed");
        await using var amqp = await broker.ConnectAsync(nameof(HttpsTests));
        await amqp.PublishAsync(queue, "over h2");

        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(Patience);
        var frame = await socket.ReceiveAsync(buffer, timeout.Token);
        Assert.Contains("over h2", System.Text.Encoding.UTF8.GetString(buffer, 0, frame.Count), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("close reason not UTF-8", 1007, "close reason is not valid UTF-8")]
    [InlineData("frame header declaring 2^40 bytes", 1009, "message larger than 1024 bytes")]
    public async Task Http2_WebSocket_FrameTheGatewayRefuses_IsClosedAsOverHttp11(string sent, int code, string reason)
    {
        // A WebSocket over HTTP/2 (RFC 8441) reads its client's frames through the same checks as one over an HTTP/1.1
        // upgrade: a close whose reason is not UTF-8 gets 1007 (ASP.NET's WebSocket alone answers 1002, no reason), and a
        // frame whose header declares more than ws.max_message_size is closed as soon as its header has come (not once
        // that much has come: never, from a client that sends the header and waits).
        using var certificate = TestCertificate.Create();
        await using var gateway = await StartAsync(certificate, o => o.Ws.MaxMessageSize = 1024);
        var queue = broker.UniqueQueueName("h2-ws-frames");
        using var client = Client(gateway, certificate, _ => { });
        using var request = new HttpRequestMessage(HttpMethod.Connect, $"/ws?id={queue}");
        Http2(request);
        request.Headers.Protocol = "websocket";
        request.Headers.Add("Sec-WebSocket-Version", "13");
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await using var stream = await response.Content.ReadAsStreamAsync();
        await Wait.UntilAsync(async () => await broker.Rabbitmqctl.FindQueueAsync(queue) is { Consumers: 1 }, Patience, $"{queue} consumed");

        // Masked with a key of zeros: the payload as it is.
        byte[] frame = sent.StartsWith("close", StringComparison.Ordinal)
            ? [0x88, 0x83, 0, 0, 0, 0, 0x03, 0xE8, 0xFF]
            : [0x81, 0xFF, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        await stream.WriteAsync(frame);
        await stream.FlushAsync();

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        (int Code, string Reason)? close = null;
        try
        {
            close = await ReadCloseFrameAsync(stream, timeout.Token);
        }
        catch (OperationCanceledException)
        {
        }

        Assert.True(close is not null, $"{sent}: no close frame within 5 s");
        Assert.Equal((code, reason), close.Value);
        await Wait.UntilAsync(async () => await broker.Rabbitmqctl.FindQueueAsync(queue) is { Consumers: 0 }, Patience, $"{queue} let go");
    }

    /// <summary>The server's frames (unmasked) up to its close frame: its code and reason.</summary>
    private static async Task<(int Code, string Reason)> ReadCloseFrameAsync(Stream stream, CancellationToken cancellationToken)
    {
        var header = new byte[10];
        while (true)
        {
            await stream.ReadExactlyAsync(header.AsMemory(0, 2), cancellationToken);
            long length = header[1] & 0x7F;
            if (length >= 126)
            {
                var extended = length == 126 ? 2 : 8;
                await stream.ReadExactlyAsync(header.AsMemory(2, extended), cancellationToken);
                length = 0;
                for (var i = 0; i < extended; i++)
                {
                    length = (length << 8) | header[2 + i];
                }
            }

            var payload = new byte[length];
            await stream.ReadExactlyAsync(payload, cancellationToken);
            if ((header[0] & 0x0F) == 0x8)
            {
                return payload.Length < 2 ? (1005, "") : ((payload[0] << 8) | payload[1], System.Text.Encoding.UTF8.GetString(payload, 2, payload.Length - 2));
            }
        }
    }

    [Fact]
    public async Task Http2_WebSocketRefused_WithCloseRefusals_ClosesWithTheStatusAndReason()
    {
        // An HTTP/2 WebSocket (RFC 8441's CONNECT) is accepted and closed as an HTTP/1.1 one: 4503 for a busy queue.
        using var certificate = TestCertificate.Create();
        await using var gateway = await StartAsync(certificate, o => o.Ws.CloseRefusals = true);
        var queue = broker.UniqueQueueName("h2-ws-refused");
        using var client = Client(gateway, certificate, _ => { });
        await using var first = await SseClient.OpenAsync(client, $"/?id={queue}", Http2, CancellationToken.None);
        Assert.Equal(HttpStatusCode.OK, first.Status);
        using var handler = new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, shown, _, _) => new X509Certificate2(shown!).Thumbprint == certificate.Certificate.Thumbprint },
        };
        using var socket = new ClientWebSocket();
        socket.Options.HttpVersion = HttpVersion.Version20;
        socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;

        await socket.ConnectAsync(new Uri($"wss://127.0.0.1:{gateway.Port}/ws?id={queue}"), new HttpMessageInvoker(handler), CancellationToken.None);
        using var timeout = new CancellationTokenSource(Patience);
        var frame = await socket.ReceiveAsync(new byte[256], timeout.Token);

        Assert.Equal(WebSocketMessageType.Close, frame.MessageType);
        Assert.Equal(4503, (int?)socket.CloseStatus);
        Assert.StartsWith("queue is already being consumed by another subscriber; retry after ", socket.CloseStatusDescription, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Http11OverTls_StreamsAndAcknowledgesOnceTheClientsTcpHasTheBytes()
    {
        using var certificate = TestCertificate.Create();
        await using var gateway = await StartAsync(certificate);
        using var client = Client(gateway, certificate, _ => { });
        var queue = broker.UniqueQueueName("tls-h1");

        await using var sse = await SseClient.OpenAsync(client, $"/?id={queue}", request => request.Version = HttpVersion.Version11, CancellationToken.None);
        Assert.Equal(HttpStatusCode.OK, sse.Status);
        Assert.Equal(HttpVersion.Version11, sse.Response.Version);
        await using var amqp = await broker.ConnectAsync(nameof(HttpsTests));
        for (var i = 0; i < 20; i++)
        {
            await amqp.PublishAsync(queue, $"m{i}");
        }

        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"m{i}"), await sse.ReadEventsAsync(20, Patience));
        // The byte count behind the acknowledgements is taken outside TLS (encrypted bytes, as the kernel counts them).
        await Wait.UntilAsync(async () => await broker.Rabbitmqctl.FindQueueAsync(queue) is { Messages: 0 }, Patience, "all twenty acknowledged");
    }

    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    public async Task Topic_OverTls_EveryEventArrives_WrittenThroughKestrelNotStraightToTheSocket(string version)
    {
        using var certificate = TestCertificate.Create();
        await using var gateway = await StartAsync(certificate);
        using var client = Client(gateway, certificate, _ => { });
        var topic = broker.UniqueQueueName("tls-topic");

        await using var sse = await SseClient.OpenAsync(
            client,
            $"/topics/{topic}",
            request =>
            {
                request.Version = Version.Parse(version);
                request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
            },
            CancellationToken.None);
        Assert.Equal(HttpStatusCode.OK, sse.Status);
        await using var amqp = await broker.ConnectAsync(nameof(HttpsTests));
        for (var i = 0; i < 20; i++)
        {
            await amqp.PublishAsync(Eventsourced.Topics.TopicOptions.DefaultPrefix + topic, $"e{i}");
        }

        // Bytes written to the socket itself would bypass the encryption (or HTTP/2's framing): none are.
        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"e{i}"), await sse.ReadEventsAsync(20, Patience));
        Assert.Equal(0, gateway.Services.GetRequiredService<Eventsourced.Topics.TopicHub>().FeedOf(topic)?.WrittenDirectly);
    }

    [Fact]
    public async Task CertificateFilesReplaced_NewConnectionsGetTheNewCertificate_OpenStreamsGoOn()
    {
        using var first = TestCertificate.Create("first");
        using var second = TestCertificate.Create("second");
        await using var gateway = await StartAsync(first);
        X509Certificate2? seen = null;
        using var before = Client(gateway, null, c => seen = c);
        var queue = broker.UniqueQueueName("tls-reload");
        await using var sse = await SseClient.OpenAsync(before, $"/?id={queue}", Http2, CancellationToken.None);
        Assert.Equal(HttpStatusCode.OK, sse.Status);
        Assert.Equal(first.Certificate.Thumbprint, seen?.Thumbprint);

        second.WriteTo(_directory.FullName);

        await Wait.UntilAsync(
            async () =>
            {
                X509Certificate2? presented = null;
                using var fresh = Client(gateway, null, c => presented = c);
                using var response = await fresh.GetAsync("/healthz");
                return presented?.Thumbprint == second.Certificate.Thumbprint;
            },
            Patience,
            "a new connection is presented the new certificate");
        await using var amqp = await broker.ConnectAsync(nameof(HttpsTests));
        await amqp.PublishAsync(queue, "still streaming");
        Assert.Equal(["still streaming"], await sse.ReadEventsAsync(1, Patience));
    }

    [Fact]
    public async Task Http2_RapidResets_EndTheConnection_LoggedAsOneWarningNotCriticalLinesPerConnection()
    {
        using var certificate = TestCertificate.Create();
        var log = new CollectedLog();
        var (certificatePath, keyPath) = certificate.WriteTo(_directory.FullName);
        await using var gateway = await GatewayServer.StartAsync(
            broker.AmqpUrl,
            o => o.Server.Tls = new(StringComparer.OrdinalIgnoreCase) { ["certificate"] = certificatePath, ["key"] = keyPath },
            log);

        // Streams opened and reset at once (CVE-2023-44487): Kestrel ends such a connection for the output it queues.
        for (var connection = 0; connection < 5; connection++)
        {
            await RapidResetAsync(gateway.Port, streams: 5000);
        }

        // Kestrel's critical lines (several per connection, Http2[60]) are not written; the gateway's warning once is.
        Assert.DoesNotContain(log.Entries, e => e.Level == Microsoft.Extensions.Logging.LogLevel.Critical);
        await Wait.UntilAsync(() => Task.FromResult(log.Entries.Any(e => e.EventId == 115)), Patience, "the ended connection logged (event 115)");
        // Once per reason Kestrel gave (the stream reset limit, or the output queue), not once per connection.
        var firsts = log.Entries.Where(e => e.EventId == 115).Select(e => e.Message).ToList();
        Assert.Equal(firsts.Distinct().Count(), firsts.Count);
        using var client = Client(gateway, certificate, _ => { });
        using var health = await client.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task Http2_StreamWhoseWindowStaysClosed_IsResetAtTheWriteTimeout_AndItsIdleConnectionCloses()
    {
        // A client that never opens a stream's flow-control window: the write timeout ends the subscription, and the
        // end comment cannot go out either. Over HTTP/1.1 the kernel drops such a connection (TCP_USER_TIMEOUT); over
        // HTTP/2 nothing is in flight, so the stream and its connection stayed open for as long as the client liked,
        // holding a place of limits.max_connections that no per-client limit counted (the stream was never reset).
        using var certificate = TestCertificate.Create();
        await using var gateway = await StartAsync(certificate, o =>
        {
            o.Server.WriteTimeoutSeconds = 1;
            o.Limits.RequestHeadersTimeoutSeconds = 2;
        });
        var queue = broker.UniqueQueueName("h2-closed-window");
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, gateway.Port);
        await using var tls = await Http2ConnectAsync(tcp, initialWindow: 0);
        var path = System.Text.Encoding.ASCII.GetBytes($"/?id={queue}");
        var authority = System.Text.Encoding.ASCII.GetBytes($"127.0.0.1:{gateway.Port}");
        using (var request = new MemoryStream())
        {
            // HPACK: :method GET, :scheme https (static 2, 7), :path and :authority as literals of name index 4 and 1.
            Frame(request, type: 0x1, flags: 0x5, stream: 1, [0x82, 0x87, 0x04, (byte)path.Length, .. path, 0x01, (byte)authority.Length, .. authority]);
            await tls.WriteAsync(request.ToArray());
        }

        var frames = Http2FramesAsync(tls).GetAsyncEnumerator();
        Assert.True(await NextAsync(frames, f => f.Type == 0x1 && f.Stream == 1), "the stream's response headers");
        await using (var amqp = await broker.ConnectAsync(nameof(HttpsTests)))
        {
            // More than Kestrel takes into its own buffer while a window is closed (about 4 KB).
            await amqp.PublishAsync(queue, new string('x', 64 * 1024));
        }

        // The stream is reset at the write timeout, not held open.
        var reset = NextAsync(frames, f => f.Type == 0x3 && f.Stream == 1);
        Assert.Same(reset, await Task.WhenAny(reset, Task.Delay(Patience)));
        Assert.True(await reset, "RST_STREAM on the stalled stream before the connection closed");
        // With no stream left the connection is idle, and closed after limits.request_headers_timeout like any other.
        var closed = NextAsync(frames, _ => false);
        Assert.Same(closed, await Task.WhenAny(closed, Task.Delay(Patience)));
        await Wait.UntilAsync(async () => await broker.Rabbitmqctl.FindQueueAsync(queue) is { Messages: 1, Consumers: 0 }, Patience, "the message requeued, no consumer left");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Http2_AConnectionThatOnlyPings_IsToldToGoAwayAndClosedAfterTheHeadersTimeout(bool requestFirst)
    {
        // Kestrel's keep-alive timeout restarts at every PING: a client that pinged every few seconds and opened no stream
        // held its place of limits.max_connections for good (a few of them, the whole cap).
        using var certificate = TestCertificate.Create();
        await using var gateway = await StartAsync(certificate, o => o.Limits.RequestHeadersTimeoutSeconds = 2);
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, gateway.Port);
        await using var tls = await Http2ConnectAsync(tcp, initialWindow: 65535);
        var frames = Http2FramesAsync(tls).GetAsyncEnumerator();
        // The server's SETTINGS, acknowledged by the reader: from here on only the pings below are written.
        Assert.True(await NextAsync(frames, f => f.Type == 0x4 && (f.Flags & 0x1) == 0), "the server's SETTINGS");
        if (requestFirst)
        {
            await WriteFrameAsync(tls, type: 0x1, flags: 0x5, stream: 1, HealthzHeaders(gateway.Port));
            Assert.True(await NextAsync(frames, f => f.Type == 0x1 && f.Stream == 1), "the answer to /healthz");
        }

        var goAway = NextAsync(frames, f => f.Type == 0x7);
        var pings = 0;
        var started = System.Diagnostics.Stopwatch.StartNew();
        while (!goAway.IsCompleted && started.Elapsed < Patience)
        {
            await WriteFrameAsync(tls, type: 0x6, flags: 0, stream: 0, [0, 0, 0, 0, 0, 0, 0, (byte)++pings]);
            await Task.WhenAny(goAway, Task.Delay(500));
        }

        Assert.True(goAway.IsCompleted && await goAway, $"GOAWAY while pinging ({pings} pings in {started.Elapsed.TotalSeconds:F1} s)");
        // The connection ends, pings or not (cut after a grace if the client holds it).
        var closed = NextAsync(frames, _ => false);
        while (!closed.IsCompleted && started.Elapsed < 2 * Patience)
        {
            try
            {
                await WriteFrameAsync(tls, type: 0x6, flags: 0, stream: 0, [0, 0, 0, 0, 0, 0, 0, (byte)++pings]);
            }
            catch (IOException)
            {
                break;
            }

            await Task.WhenAny(closed, Task.Delay(500));
        }

        Assert.Same(closed, await Task.WhenAny(closed, Task.Delay(Patience)));
        Assert.False(await closed);
    }

    [Fact]
    public async Task Http2_AStreamOpenOnAPingingConnection_KeepsItOpenPastTheHeadersTimeout()
    {
        using var certificate = TestCertificate.Create();
        await using var gateway = await StartAsync(certificate, o => o.Limits.RequestHeadersTimeoutSeconds = 1);
        var queue = broker.UniqueQueueName("h2-pinging-stream");
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, gateway.Port);
        await using var tls = await Http2ConnectAsync(tcp, initialWindow: 65535);
        var frames = Http2FramesAsync(tls).GetAsyncEnumerator();
        Assert.True(await NextAsync(frames, f => f.Type == 0x4 && (f.Flags & 0x1) == 0), "the server's SETTINGS");
        var path = System.Text.Encoding.ASCII.GetBytes($"/?id={queue}");
        var authority = System.Text.Encoding.ASCII.GetBytes($"127.0.0.1:{gateway.Port}");
        await WriteFrameAsync(tls, type: 0x1, flags: 0x5, stream: 1, [0x82, 0x87, 0x04, (byte)path.Length, .. path, 0x01, (byte)authority.Length, .. authority]);
        Assert.True(await NextAsync(frames, f => f.Type == 0x1 && f.Stream == 1), "the stream's response headers");

        // Four times the timeout, pinging, with the stream open: no GOAWAY, and the stream still delivers.
        var goAway = NextAsync(frames, f => f.Type == 0x7 || f.Type == 0x3);
        for (var ping = 1; ping <= 8; ping++)
        {
            await WriteFrameAsync(tls, type: 0x6, flags: 0, stream: 0, [0, 0, 0, 0, 0, 0, 0, (byte)ping]);
            await Task.WhenAny(goAway, Task.Delay(500));
        }

        Assert.False(goAway.IsCompleted, "the connection with an open stream was told to go away, or its stream reset");
        await using (var amqp = await broker.ConnectAsync(nameof(HttpsTests)))
        {
            await amqp.PublishAsync(queue, "still open");
        }

        await Wait.UntilAsync(async () => await broker.Rabbitmqctl.FindQueueAsync(queue) is { Messages: 0, Consumers: 1 }, Patience, "the message delivered and acknowledged on the open stream");
        Assert.False(goAway.IsCompleted, "the connection with an open stream was told to go away, or its stream reset");
    }

    /// <summary>HPACK: GET https /healthz with :authority as a literal of name index 1.</summary>
    private static byte[] HealthzHeaders(int port)
    {
        var path = "/healthz"u8.ToArray();
        var authority = System.Text.Encoding.ASCII.GetBytes($"127.0.0.1:{port}");
        return [0x82, 0x87, 0x04, (byte)path.Length, .. path, 0x01, (byte)authority.Length, .. authority];
    }

    private static async Task WriteFrameAsync(System.Net.Security.SslStream tls, byte type, byte flags, int stream, byte[] payload)
    {
        using var frame = new MemoryStream();
        Frame(frame, type, flags, stream, payload);
        await tls.WriteAsync(frame.ToArray());
    }

    /// <summary>A TLS connection speaking HTTP/2 (ALPN h2), its preface sent with SETTINGS_INITIAL_WINDOW_SIZE <paramref name="initialWindow"/>.</summary>
    private static async Task<System.Net.Security.SslStream> Http2ConnectAsync(System.Net.Sockets.TcpClient tcp, int initialWindow)
    {
        var tls = new System.Net.Security.SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ApplicationProtocols = [System.Net.Security.SslApplicationProtocol.Http2],
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        });
        using var preface = new MemoryStream();
        preface.Write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8);
        Frame(preface, type: 0x4, flags: 0, stream: 0, [0, 0x4, (byte)(initialWindow >> 24), (byte)(initialWindow >> 16), (byte)(initialWindow >> 8), (byte)initialWindow]);
        await tls.WriteAsync(preface.ToArray());
        return tls;
    }

    /// <summary>The frames the server sends (type, flags, stream), its SETTINGS acknowledged, until it closes the connection.</summary>
    private static async IAsyncEnumerable<(byte Type, byte Flags, int Stream)> Http2FramesAsync(System.Net.Security.SslStream tls)
    {
        var head = new byte[9];
        while (true)
        {
            try
            {
                await tls.ReadExactlyAsync(head);
            }
            catch (Exception ex) when (ex is EndOfStreamException or IOException)
            {
                yield break;
            }

            var length = (head[0] << 16) | (head[1] << 8) | head[2];
            var payload = new byte[length];
            await tls.ReadExactlyAsync(payload);
            var (type, flags, stream) = (head[3], head[4], ((head[5] & 0x7f) << 24) | (head[6] << 16) | (head[7] << 8) | head[8]);
            if (type == 0x4 && (flags & 0x1) == 0)
            {
                using var ack = new MemoryStream();
                Frame(ack, type: 0x4, flags: 0x1, stream: 0, []);
                await tls.WriteAsync(ack.ToArray());
            }

            yield return (type, flags, stream);
        }
    }

    /// <summary>True once a frame matching <paramref name="wanted"/> came, false when the connection closed first.</summary>
    private static async Task<bool> NextAsync(IAsyncEnumerator<(byte Type, byte Flags, int Stream)> frames, Func<(byte Type, byte Flags, int Stream), bool> wanted)
    {
        while (await frames.MoveNextAsync())
        {
            if (wanted(frames.Current))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Opens <paramref name="streams"/> HTTP/2 streams on one connection, each reset as soon as it is opened, until the server closes it.</summary>
    private static async Task RapidResetAsync(int port, int streams)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        await using var tls = new System.Net.Security.SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ApplicationProtocols = [System.Net.Security.SslApplicationProtocol.Http2],
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        });
        var drain = Task.Run(async () =>
        {
            var buffer = new byte[65536];
            try
            {
                while (await tls.ReadAsync(buffer) > 0)
                {
                }
            }
            catch (IOException)
            {
            }
        });

        // HPACK: :method GET, :scheme https, :path / (static table 2, 7, 4), :authority as a literal of name index 1.
        var authority = System.Text.Encoding.ASCII.GetBytes($"127.0.0.1:{port}");
        byte[] block = [0x82, 0x87, 0x84, 0x41, (byte)authority.Length, .. authority];
        using var frames = new MemoryStream();
        frames.Write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8);
        Frame(frames, type: 0x4, flags: 0, stream: 0, []); // SETTINGS
        try
        {
            for (var i = 0; i < streams; i++)
            {
                var stream = (2 * i) + 1;
                Frame(frames, type: 0x1, flags: 0x5, stream, block); // HEADERS, END_STREAM | END_HEADERS
                Frame(frames, type: 0x3, flags: 0, stream, [0, 0, 0, 0x8]); // RST_STREAM, CANCEL
                if (frames.Length > 16384)
                {
                    await tls.WriteAsync(frames.GetBuffer().AsMemory(0, (int)frames.Length));
                    frames.SetLength(0);
                }
            }

            await tls.WriteAsync(frames.GetBuffer().AsMemory(0, (int)frames.Length));
        }
        catch (IOException)
        {
            // The server ended the connection.
        }

        await drain.WaitAsync(Patience);
    }

    private static void Frame(MemoryStream frames, byte type, byte flags, int stream, ReadOnlySpan<byte> payload)
    {
        frames.Write([(byte)(payload.Length >> 16), (byte)(payload.Length >> 8), (byte)payload.Length, type, flags]);
        frames.Write([(byte)(stream >> 24), (byte)(stream >> 16), (byte)(stream >> 8), (byte)stream]);
        frames.Write(payload);
    }

    private static void Http2(HttpRequestMessage request)
    {
        request.Version = HttpVersion.Version20;
        request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
    }

    private Task<GatewayServer> StartAsync(TestCertificate certificate, Action<Eventsourced.Configuration.GatewayOptions>? configure = null)
    {
        var (certificatePath, keyPath) = certificate.WriteTo(_directory.FullName);
        return GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Server.Tls = new(StringComparer.OrdinalIgnoreCase)
            {
                ["certificate"] = certificatePath,
                ["key"] = keyPath,
            };
            configure?.Invoke(o);
        });
    }

    /// <summary>A client that trusts <paramref name="trusted"/> only (or any certificate when null) and reports what it was shown.</summary>
    private static HttpClient Client(GatewayServer gateway, TestCertificate? trusted, Action<X509Certificate2> presented) => new(new SocketsHttpHandler
    {
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        UseCookies = false,
        SslOptions =
        {
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            {
                var shown = new X509Certificate2(certificate!);
                presented(shown);
                return trusted is null || shown.Thumbprint == trusted.Certificate.Thumbprint;
            },
        },
    })
    {
        BaseAddress = new Uri($"https://127.0.0.1:{gateway.Port}"),
        Timeout = Timeout.InfiniteTimeSpan,
    };
}
