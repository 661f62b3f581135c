using System.Net;
using System.Net.WebSockets;
using Eventsourced.IntegrationTests.Infrastructure;
using Eventsourced.Testing.Tokens;

namespace Eventsourced.IntegrationTests.Transports;

/// <summary>
/// <c>ws.close_refusals</c>: a refused WebSocket subscription is accepted and closed with 4000 + the HTTP status and the
/// reason (what a browser's page can read), for every kind of refusal and both WebSocket endpoints; nothing is consumed.
/// </summary>
[Collection(BrokerStreamsCollection.Name)]
public sealed class WebSocketCloseRefusalTests(BrokerFixture broker) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private AmqpTestClient _amqp = null!;

    public async Task InitializeAsync() => _amqp = await broker.ConnectAsync(nameof(WebSocketCloseRefusalTests));

    public async Task DisposeAsync() => await _amqp.DisposeAsync();

    [Fact]
    public async Task NoToken_Closes4401WithTheReason_OnQueuesAndTopics_NothingDeclared()
    {
        var queue = broker.UniqueQueueName(nameof(NoToken_Closes4401WithTheReason_OnQueuesAndTopics_NothingDeclared));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Ws.CloseRefusals = true;
            o.Auth.Jwt.Secret = TestTokens.Secret;
        });

        foreach (var path in new[] { $"/ws?id={queue}", $"/ws/topics/{queue}" })
        {
            await using var ws = await gateway.ConnectWebSocketAsync(path);
            Assert.True(ws.Connected, $"{path}: {ws.Status} {ws.Reason}");
            Assert.StartsWith("no token (send it as ", ws.Reason, StringComparison.Ordinal);

            await ws.WaitForCloseAsync(Timeout);

            Assert.Equal(4401, (int?)ws.CloseStatus);
            Assert.Equal(ws.Reason, ws.CloseDescription);
            Assert.Empty(ws.Frames);
        }

        Assert.False(await _amqp.QueueExistsAsync(queue));
        Assert.Equal(2, await gateway.MetricAsync("eventsourced_streams_total{outcome=\"unauthorized\"}"));
    }

    [Fact]
    public async Task BusyQueue_Closes4503_SayingWhenToTryAgain_TheFirstSubscriberKeepsStreaming()
    {
        var queue = broker.UniqueQueueName(nameof(BusyQueue_Closes4503_SayingWhenToTryAgain_TheFirstSubscriberKeepsStreaming));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Ws.CloseRefusals = true;
            o.Queue.BusyGraceSeconds = 1;
        });
        await using var first = await gateway.ConnectWebSocketAsync($"/ws?id={queue}");
        Assert.True(first.Connected);
        await _amqp.UntilConsumersAsync(queue, 1, Timeout, "the first subscriber consumes");

        await using var second = await gateway.ConnectWebSocketAsync($"/ws?id={queue}");
        await second.WaitForCloseAsync(Timeout);

        Assert.Equal(4503, (int?)second.CloseStatus);
        Assert.Equal("queue is already being consumed by another subscriber; retry after 1 s", second.CloseDescription);
        await _amqp.PublishAsync(queue, "still mine");
        var received = await first.ReceiveMessagesAsync(1, Timeout);
        Assert.Equal("still mine", received[0].Data);
    }

    [Fact]
    public async Task RateLimited_BeforeTheWebSocketPipeline_Closes4429()
    {
        // limits.subscribes_per_second refuses in ASP.NET Core's rate limiting middleware, before the WebSocket endpoint's
        // own pipeline (and its WebSocket middleware) runs.
        var queue = broker.UniqueQueueName(nameof(RateLimited_BeforeTheWebSocketPipeline_Closes4429));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Ws.CloseRefusals = true;
            o.Limits.SubscribesPerSecond = 1;
        });

        var closes = new List<(int? Code, string? Reason)>();
        for (var i = 0; i < 4; i++)
        {
            await using var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}-{i}");
            Assert.True(ws.Connected, $"{ws.Status} {ws.Reason}");
            if (i > 0)
            {
                await ws.WaitForCloseAsync(TimeSpan.FromSeconds(2));
            }

            closes.Add(((int?)ws.CloseStatus, ws.CloseDescription));
        }

        Assert.Contains((4429, "too many subscribe attempts from this address; retry after 1 s"), closes);
    }

    [Fact]
    public async Task AskingForASubprotocol_IsAcceptedWithIt_AndClosed4400SayingWhy()
    {
        var queue = broker.UniqueQueueName(nameof(AskingForASubprotocol_IsAcceptedWithIt_AndClosed4400SayingWhy));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Ws.CloseRefusals = true);

        await using var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}", o => o.AddSubProtocol("v1.json"));
        Assert.True(ws.Connected, $"{ws.Status} {ws.Reason}");
        Assert.Equal("v1.json", ws.Socket.SubProtocol);
        await ws.WaitForCloseAsync(Timeout);

        Assert.Equal(4400, (int?)ws.CloseStatus);
        Assert.Equal("WebSocket subprotocols (Sec-WebSocket-Protocol) are not spoken here: open the WebSocket without any", ws.CloseDescription);
        Assert.False(await _amqp.QueueExistsAsync(queue));
    }

    [Theory]
    [InlineData("v\u00e9")]
    [InlineData("v1, caf\u00e9")]
    [InlineData("\"v1\"")]
    public async Task ASubprotocolThatIsNoToken_GetsTheHttpAnswer_NotA500(string protocols)
    {
        // The first subprotocol is echoed in the 101; one with UTF-8 characters (which Kestrel reads) cannot be a header
        // value of the answer, which was a 500 with an unhandled InvalidOperationException. No browser sends such a name.
        var queue = broker.UniqueQueueName(nameof(ASubprotocolThatIsNoToken_GetsTheHttpAnswer_NotA500));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Ws.CloseRefusals = true);
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(gateway.BaseAddress.Host, gateway.Port);
        await using var stream = client.GetStream();
        var request = $"GET /ws?id={queue} HTTP/1.1\r\nHost: {gateway.BaseAddress.Authority}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            + $"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: {protocols}\r\n\r\n";
        await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(request));
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(Timeout);
        var read = await stream.ReadAsync(buffer, timeout.Token);
        var answer = System.Text.Encoding.UTF8.GetString(buffer, 0, read);

        Assert.StartsWith("HTTP/1.1 400 ", answer, StringComparison.Ordinal);
        Assert.Contains("X-Status-Reason: WebSocket subprotocols (Sec-WebSocket-Protocol) are not spoken here", answer, StringComparison.Ordinal);
        Assert.False(await _amqp.QueueExistsAsync(queue));
    }

    [Theory]
    [InlineData("8", "dGhlIHNhbXBsZSBub25jZQ==", 426)]
    [InlineData("13", "short", 400)]
    public async Task AMalformedHandshake_StillGetsItsHttpAnswer(string version, string key, int status)
    {
        // A close needs a valid handshake: the refusal of anything else is the HTTP answer, never a 101 (nor a 500 from
        // accepting what is no WebSocket request).
        var queue = broker.UniqueQueueName(nameof(AMalformedHandshake_StillGetsItsHttpAnswer));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Ws.CloseRefusals = true);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/ws?id={queue}");
        request.Headers.TryAddWithoutValidation("Connection", "Upgrade");
        request.Headers.TryAddWithoutValidation("Upgrade", "websocket");
        request.Headers.TryAddWithoutValidation("Sec-WebSocket-Version", version);
        request.Headers.TryAddWithoutValidation("Sec-WebSocket-Key", key);

        using var response = await gateway.Client.SendAsync(request);

        Assert.Equal(status, (int)response.StatusCode);
        Assert.NotEmpty(response.Headers.GetValues("X-Status-Reason").Single());
        Assert.False(await _amqp.QueueExistsAsync(queue));
    }

    [Fact]
    public async Task Off_TheRefusalIsTheHttpStatusBeforeTheUpgrade()
    {
        var queue = broker.UniqueQueueName(nameof(Off_TheRefusalIsTheHttpStatusBeforeTheUpgrade));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Auth.Jwt.Secret = TestTokens.Secret);

        await using var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}");

        Assert.Equal(HttpStatusCode.Unauthorized, ws.Status);
        Assert.False(ws.Connected);
    }
}
