using System.Net;
using System.Text.Json;
using Eventsourced.EndToEndTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Eventsourced.EndToEndTests.Nginx;

/// <summary>WebSockets and long-polls through <c>examples/nginx/eventsourced.conf</c> as shipped (addresses and timeouts aside).</summary>
[Collection(EndToEndCollection.Name)]
public sealed class NginxTransportTests(BrokerFixture broker)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task ExampleConfig_WebSocket_UpgradesAndStaysOpenPastTheReadTimeoutOnPings()
    {
        var queue = broker.UniqueQueueName("nginx-websocket");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Server.HeartbeatSeconds = 1);
        await using var nginx = await ExampleNginx.StartAsync([gateway.Port], readTimeout: "3s");
        await using var amqp = await broker.ConnectAsync(nameof(ExampleConfig_WebSocket_UpgradesAndStaysOpenPastTheReadTimeoutOnPings));
        await using var ws = await WebSocketClient.ConnectAsync(nginx.BaseAddress, $"/ws?id={queue}&acks=client");
        Assert.True(ws.Connected, $"upgrade through nginx refused: {ws.Status} {ws.Reason}\n{nginx.ErrorLog}");
        await amqp.UntilConsumersAsync(queue, 1, Timeout, "the gateway consumes the queue");

        // Idle for twice nginx's read timeout: only the gateway's pings keep the connection.
        await Task.Delay(TimeSpan.FromSeconds(6));
        await amqp.PublishAsync(queue, "after the quiet");

        var message = Assert.Single(await ws.ReceiveMessagesAsync(1, Timeout));
        Assert.Equal("after the quiet", message.Data);
        await ws.AckAsync(message.Number);
        await ws.CloseAsync();
        await amqp.UntilConsumersAsync(queue, 0, Timeout, "the consumer is gone");
        Assert.Equal(0u, await amqp.MessageCountAsync(queue));
    }

    [Fact]
    public async Task ExampleConfig_TopicWrittenStraightToTheSockets_EveryEventInOrder_IdlePastTheReadTimeout()
    {
        var topic = broker.UniqueQueueName("nginx-topic");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Server.HeartbeatSeconds = 1);
        await using var nginx = await ExampleNginx.StartAsync([gateway.Port], readTimeout: "3s");
        await using var amqp = await broker.ConnectAsync(nameof(ExampleConfig_TopicWrittenStraightToTheSockets_EveryEventInOrder_IdlePastTheReadTimeout));
        using var client = new HttpClient { BaseAddress = nginx.BaseAddress, Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        var streams = new List<SseClient>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                streams.Add(await SseClient.OpenAsync(client, $"/topics/{topic}", null, CancellationToken.None));
                Assert.Equal(HttpStatusCode.OK, streams[^1].Status);
            }

            await amqp.PublishAsync(Eventsourced.Topics.TopicOptions.DefaultPrefix + topic, "e0");
            foreach (var stream in streams)
            {
                Assert.Equal(["e0"], await stream.ReadEventsAsync(1, Timeout));
            }

            // Idle for twice nginx's read timeout: heartbeats, written now by the same socket writer as the events.
            await Task.Delay(TimeSpan.FromSeconds(6));
            for (var i = 1; i <= 100; i++)
            {
                await amqp.PublishAsync(Eventsourced.Topics.TopicOptions.DefaultPrefix + topic, $"e{i}");
            }

            foreach (var stream in streams)
            {
                Assert.Equal(Enumerable.Range(0, 101).Select(i => $"e{i}"), await stream.ReadEventsAsync(101, Timeout));
            }

            // nginx parsed the chunks the feed wrote itself: nearly all of them (one that comes while a heartbeat
            // waits in a subscriber's buffer goes through its writer).
            var feed = gateway.Services.GetRequiredService<Eventsourced.Topics.TopicHub>().FeedOf(topic);
            Assert.True(feed?.WrittenDirectly >= 3 * 90, $"{feed?.WrittenDirectly} events written straight to the sockets");
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
    public async Task WithoutTheUpgradeHeaders_NginxCannotPassAWebSocket()
    {
        // The example's two Upgrade lines are what makes WebSockets work: without them the upgrade fails.
        var queue = broker.UniqueQueueName("nginx-no-upgrade");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var nginx = await ExampleNginx.StartAsync([gateway.Port], alter: site => site
            .ReplaceOnce("proxy_set_header Upgrade $http_upgrade;", "")
            .ReplaceOnce("proxy_set_header Connection $eventsourced_connection;", "proxy_set_header Connection \"\";"));

        await using var ws = await WebSocketClient.ConnectAsync(nginx.BaseAddress, $"/ws?id={queue}");

        Assert.False(ws.Connected);
        Assert.Equal(HttpStatusCode.UpgradeRequired, ws.Status);
    }

    [Fact]
    public async Task ExampleConfig_PageOfItsOwnOrigin_OnAPortOtherThan80_KeepsItsCookieSubscription()
    {
        // The gateway tells a page of its own origin by the Host it is asked for. nginx's $host has no port, so behind
        // the example on any other port than 80 or 443 the gateway's own page, with the cookie that names its queue, was
        // refused (403) as if another site had sent it, over WebSocket and long-polling alike.
        var queue = broker.UniqueQueueName("nginx-own-origin");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Queue.Pattern = "${cookie:sid}";
            o.Poll.WaitSeconds = 1;
        });
        await using var nginx = await ExampleNginx.StartAsync([gateway.Port]);
        await using var amqp = await broker.ConnectAsync(nameof(ExampleConfig_PageOfItsOwnOrigin_OnAPortOtherThan80_KeepsItsCookieSubscription));
        await amqp.DeclareQueueAsync(queue, expiresSeconds: 1800, durable: true);
        await amqp.PublishAsync(queue, "to the page");
        var origin = nginx.BaseAddress.GetLeftPart(UriPartial.Authority);

        await using (var ws = await WebSocketClient.ConnectAsync(nginx.BaseAddress, "/ws", o =>
        {
            o.SetRequestHeader("Origin", origin);
            o.SetRequestHeader("Cookie", $"sid={queue}");
        }))
        {
            Assert.True(ws.Connected, $"the page's own WebSocket through nginx refused: {ws.Status} {ws.Reason}");
            Assert.Equal("to the page", Assert.Single(await ws.ReceiveMessagesAsync(1, Timeout)).Data);
            await ws.CloseAsync();
        }

        await amqp.UntilConsumersAsync(queue, 0, Timeout, "the WebSocket's consumer is gone");
        using var client = new HttpClient(new HttpClientHandler { UseCookies = false }) { BaseAddress = nginx.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        using var poll = new HttpRequestMessage(HttpMethod.Get, "/poll");
        poll.Headers.Add("Origin", origin);
        poll.Headers.Add("Cookie", $"sid={queue}");
        using var answer = await client.SendAsync(poll);
        Assert.True(answer.StatusCode == HttpStatusCode.OK, $"the page's own poll through nginx refused: {(int)answer.StatusCode} {await answer.Content.ReadAsStringAsync()}");
    }

    [Fact]
    public async Task ExampleConfig_LongPoll_WaitsAndAnswersThroughNginx()
    {
        var queue = broker.UniqueQueueName("nginx-poll");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Poll.WaitSeconds = 10);
        await using var nginx = await ExampleNginx.StartAsync([gateway.Port]);
        await using var amqp = await broker.ConnectAsync(nameof(ExampleConfig_LongPoll_WaitsAndAnswersThroughNginx));
        using var client = new HttpClient { BaseAddress = nginx.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };

        var polling = client.GetAsync($"/poll?id={queue}");
        await amqp.UntilConsumersAsync(queue, 1, Timeout, "the poll consumes the queue");
        await amqp.PublishAsync(queue, "through nginx");
        using var response = await polling;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("through nginx", answer.RootElement[0].GetProperty("data").GetString());
    }
}
