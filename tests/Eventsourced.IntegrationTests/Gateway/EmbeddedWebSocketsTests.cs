using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography.X509Certificates;
using Eventsourced.IntegrationTests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// An application embedding the gateway that has WebSockets of its own, so its pipeline calls <c>UseWebSockets</c> (with
/// its own options, as ASP.NET Core's documentation shows it) before <c>MapEventsourcedWebSockets</c>: the gateway's
/// WebSockets keep their checks. They did not: the application's WebSocket middleware had already taken the request's
/// upgrade, so the gateway's reads were not checked (a frame header declaring more than <c>ws.max_message_size</c> was
/// answered only once that much of it had come, or never; a close reason that is not UTF-8 was not answered with 1007).
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class EmbeddedWebSocketsTests(BrokerFixture broker) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private AmqpTestClient _amqp = null!;

    public async Task InitializeAsync() => _amqp = await broker.ConnectAsync(nameof(EmbeddedWebSocketsTests));

    public async Task DisposeAsync() => await _amqp.DisposeAsync();

    [Fact]
    public async Task WithTheApplicationsUseWebSockets_AFrameDeclaredLongerThanTheMaximum_IsClosedWith1009_AtOnce()
    {
        var queue = broker.UniqueQueueName("emb-ws-1009");
        await using var app = await StartAsync();
        using var client = await OpenRawAsync(app, queue);
        var stream = client.GetStream();

        // A text frame's header, 2^63-1 bytes, masked, and three bytes of its payload: nothing more comes.
        byte[] header = [0x81, 0x80 | 127, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x12, 0x34, 0x56, 0x78, 0x61, 0x62, 0x63];
        await stream.WriteAsync(header);
        await stream.FlushAsync();

        byte[] bytes;
        try
        {
            bytes = await RawWebSocket.ReadShortFrameAsync(stream, TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException ex)
        {
            Assert.Fail($"no close frame within 5 s of a frame header declaring 2^63-1 bytes (the gateway waits for its payload): {ex.Message}");
            return;
        }

        Assert.Equal((1009, "message larger than 65536 bytes"), RawWebSocket.CloseOf(bytes));
        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the consumer is gone");
    }

    [Fact]
    public async Task WithTheApplicationsUseWebSockets_ACloseReasonThatIsNotUtf8_IsAnsweredWith1007()
    {
        var queue = broker.UniqueQueueName("emb-ws-1007");
        await using var app = await StartAsync();
        using var client = await OpenRawAsync(app, queue);
        var stream = client.GetStream();

        // The close: 1000 and the reason 0xFF (no UTF-8), masked.
        byte[] mask = [0x12, 0x34, 0x56, 0x78];
        byte[] payload = [0x03, 0xE8, 0xFF];
        await stream.WriteAsync(RawWebSocket.Frame(0x88, payload, mask));

        var frame = await RawWebSocket.ReadToEndAsync(stream, Timeout);
        Assert.Equal((1007, "close reason is not valid UTF-8"), RawWebSocket.CloseOf(frame));
        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the consumer is gone");
    }

    [Fact]
    public async Task WithTheApplicationsAllowedOrigins_AnotherOriginsUpgrade_IsRefusedByTheApplication_NothingConsumed()
    {
        // README: the application's WebSocketOptions.AllowedOrigins still refuse the gateway's upgrades (403, no reason).
        var queue = broker.UniqueQueueName("emb-ws-origin");
        await _amqp.DeclareQueueAsync(queue, expiresSeconds: 1800, durable: true);
        await _amqp.PublishAsync(queue, "kept");
        await using var app = await StartAsync();
        var (client, head) = await RawWebSocket.UpgradeAsync(new Uri(app.Urls.Single()).Port, $"/ws?id={queue}", origin: "https://elsewhere.example");
        using (client)
        {
            Assert.StartsWith("HTTP/1.1 403", head);
        }

        await Task.Delay(TimeSpan.FromMilliseconds(300));
        Assert.Equal(0u, await _amqp.ConsumerCountAsync(queue));
        Assert.Equal(1u, await _amqp.MessageCountAsync(queue));
        await _amqp.DeleteQueueAsync(queue);
    }

    [Fact]
    public async Task WithTheApplicationsUseWebSockets_OverHttp2_TheGatewaysWebSocketStreamsAndAcknowledges_TheApplicationsToo()
    {
        // RFC 8441 over TLS, the application's UseWebSockets (its keep-alive, its origins) before the gateway's endpoint: the
        // gateway's socket counts what its HTTP/2 stream wrote (the acknowledgement), and the application's own socket works.
        var queue = broker.UniqueQueueName("emb-ws-h2");
        using var certificate = TestCertificate.Create();
        var port = FreePort.Next();
        await using var app = await StartAsync(builder => builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.UseEventsourcedConnections(TimeSpan.FromSeconds(30));
            kestrel.Listen(IPAddress.Loopback, port, listen =>
            {
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.UseHttps(certificate.Certificate);
                listen.UseEventsourcedHttp2();
            });
        }));
        using var handler = new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, shown, _, _) => new X509Certificate2(shown!).Thumbprint == certificate.Certificate.Thumbprint },
        };
        using var invoker = new HttpMessageInvoker(handler);

        using (var own = Http2Socket())
        {
            own.Options.SetRequestHeader("Origin", "https://app.example");
            await own.ConnectAsync(new Uri($"wss://127.0.0.1:{port}/chat"), invoker, CancellationToken.None);
            var closed = await own.ReceiveAsync(new byte[16], CancellationToken.None);
            Assert.Equal(WebSocketMessageType.Close, closed.MessageType);
        }

        // The application's AllowedOrigins hold over HTTP/2 too: another origin's page is refused before the gateway's endpoint.
        using (var elsewhere = Http2Socket())
        {
            elsewhere.Options.SetRequestHeader("Origin", "https://elsewhere.example");
            var refused = await Assert.ThrowsAsync<WebSocketException>(() => elsewhere.ConnectAsync(new Uri($"wss://127.0.0.1:{port}/ws?id={queue}"), invoker, CancellationToken.None));
            Assert.Contains("'403'", refused.Message, StringComparison.Ordinal);
            Assert.Null(await _amqp.ConsumerCountAsync(queue));
        }

        using var socket = Http2Socket();
        socket.Options.SetRequestHeader("Origin", "https://app.example");
        await socket.ConnectAsync(new Uri($"wss://127.0.0.1:{port}/ws?id={queue}"), invoker, CancellationToken.None);
        await _amqp.UntilConsumersAsync(queue, 1, Timeout, "the gateway consumes the queue");
        await _amqp.PublishAsync(queue, "over h2");

        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(Timeout);
        var frame = await socket.ReceiveAsync(buffer, timeout.Token);
        Assert.Contains("over h2", System.Text.Encoding.UTF8.GetString(buffer, 0, frame.Count), StringComparison.Ordinal);
        // Acknowledged once the client's TCP has the frames, while the socket lives.
        await Wait.UntilAsync(async () => await broker.Rabbitmqctl.FindQueueAsync(queue) is { Messages: 0, Consumers: 1 }, Timeout, $"{queue} acknowledged");
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the consumer is gone");

        static ClientWebSocket Http2Socket()
        {
            var socket = new ClientWebSocket();
            socket.Options.HttpVersion = HttpVersion.Version20;
            socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
            return socket;
        }
    }

    private Task<WebApplication> StartAsync(Action<WebApplicationBuilder>? configure = null) =>
        EmbeddingApp.StartAsync(broker.AmqpUrl, [], configure, app =>
        {
            // The application's own WebSockets (its own endpoint below), with its own keep-alive.
            var options = new WebSocketOptions { KeepAliveInterval = TimeSpan.FromMinutes(1) };
            options.AllowedOrigins.Add("https://app.example");
            app.UseWebSockets(options);
            // Map, not MapGet: over HTTP/2 a WebSocket is a CONNECT request (MapGet answers it 405).
            app.Map("/chat", async context =>
            {
                using var socket = await context.WebSockets.AcceptWebSocketAsync();
                await socket.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, null, context.RequestAborted);
            });
            app.MapEventsourcedWebSockets("/ws");
        });

    /// <summary>A WebSocket to <paramref name="queue"/> over a plain socket (frames written by hand), once the gateway consumes the queue.</summary>
    private async Task<TcpClient> OpenRawAsync(WebApplication app, string queue)
    {
        var (client, head) = await RawWebSocket.UpgradeAsync(new Uri(app.Urls.Single()).Port, $"/ws?id={queue}");
        Assert.StartsWith("HTTP/1.1 101", head);
        await _amqp.UntilConsumersAsync(queue, 1, Timeout, "the gateway consumes the queue");
        return client;
    }
}
