using System.Net;
using System.Text.Json;
using Eventsourced.IntegrationTests.Infrastructure;
using Eventsourced.Testing.Tokens;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary><c>events.exchange</c>: the gateway tells a service who subscribed and who left, end to end through RabbitMQ.</summary>
[Collection(BrokerCollection.Name)]
public sealed class PresenceTests(BrokerFixture broker)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task SubscribeAndLeave_QueueAndTopic_PublishSubscribedAndUnsubscribedEvents()
    {
        var exchange = broker.UniqueQueueName("presence");
        var watcher = broker.UniqueQueueName("watcher");
        await using var amqp = await broker.ConnectAsync(nameof(PresenceTests));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Events.Exchange = exchange;
            o.Events.Instance = "gateway-a";
        });
        var queue = broker.UniqueQueueName("presence-queue");
        var topic = broker.UniqueQueueName("presence-topic");

        // A service watching: the exchange exists once the gateway has published to it, so watch from the start.
        await WatchEventsAsync(amqp, exchange, watcher, "#");
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        await using (var queueStream = await gateway.SubscribeAsync($"/?id={queue}"))
        await using (var topicStream = await gateway.SubscribeAsync($"/topics/{topic}"))
        {
            Assert.Equal(HttpStatusCode.OK, queueStream.Status);
            Assert.Equal(HttpStatusCode.OK, topicStream.Status);
            await Wait.UntilAsync(async () => await amqp.MessageCountAsync(watcher) == 2, Timeout, "two subscribed events");
        }

        var events = await amqp.ReceiveAsync(watcher, 4, Timeout);
        var parsed = events.Select(e => (
            Key: e.Properties.Type,
            Json: JsonDocument.Parse(e.Body).RootElement)).ToList();
        Assert.All(events, e => Assert.Equal("application/json", e.Properties.ContentType));
        Assert.Equal(
            [("subscribed", "queue", queue), ("subscribed", "topic", topic)],
            parsed.Take(2).Select(p => (p.Json.GetProperty("event").GetString(), p.Json.GetProperty("kind").GetString(), p.Json.GetProperty("name").GetString())));
        Assert.Equal(
            [("unsubscribed", "queue", queue), ("unsubscribed", "topic", topic)],
            parsed.Skip(2).Select(p => (p.Json.GetProperty("event").GetString(), p.Json.GetProperty("kind").GetString(), p.Json.GetProperty("name").GetString()))
                .OrderBy(p => p.Item2));
        foreach (var (key, json) in parsed)
        {
            Assert.Equal(json.GetProperty("event").GetString(), key);
            Assert.Equal(JsonValueKind.Null, json.GetProperty("subject").ValueKind);
            Assert.Equal("gateway-a", json.GetProperty("instance").GetString());
            Assert.InRange(json.GetProperty("time").GetDateTimeOffset(), before, DateTimeOffset.UtcNow.AddSeconds(1));
        }

        var metrics = await gateway.Client.GetStringAsync("/metrics");
        Assert.Contains("eventsourced_presence_events_total{outcome=\"published\"} 4\n", metrics, StringComparison.Ordinal);
        Assert.Contains("eventsourced_presence_events_total{outcome=\"dropped\"} 0\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HeldPoll_TakenByAnotherSubject_AnnouncesTheFirstGoneAndTheSecondSubscribed()
    {
        // A long-poll's subscription is held between polls, and a poll with another token that may read the queue takes it
        // over. The events named the subject that opened it for as long as it was held: the one polling was never announced,
        // and the first was shown online until the hold ran out after the other's last poll.
        var exchange = broker.UniqueQueueName("presence");
        var watcher = broker.UniqueQueueName("watcher");
        var queue = broker.UniqueQueueName("shared-inbox");
        await using var amqp = await broker.ConnectAsync(nameof(PresenceTests));
        await WatchEventsAsync(amqp, exchange, watcher, "#");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Events.Exchange = exchange;
            o.Auth.Jwt.Secret = TestTokens.Secret;
            o.Poll.WaitSeconds = 0;
            o.Poll.HoldSeconds = 3;
        });

        foreach (var (subject, polls) in new[] { ("alice", 1), ("bob", 2) })
        {
            for (var i = 0; i < polls; i++)
            {
                using var response = await gateway.Client.GetAsync($"/poll?id={queue}&access_token={TestTokens.Hs256(TestTokens.Claims(subject, queue))}");
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
        }

        // The last event once the hold runs out after bob's last poll.
        var events = (await amqp.ReceiveAsync(watcher, 4, Timeout))
            .Select(e => JsonDocument.Parse(e.Body).RootElement)
            .Select(json => (json.GetProperty("event").GetString(), json.GetProperty("subject").GetString()))
            .ToList();
        Assert.Equal([("subscribed", "alice"), ("unsubscribed", "alice"), ("subscribed", "bob"), ("unsubscribed", "bob")], events);
        Assert.Equal(0u, await amqp.MessageCountAsync(watcher));
    }

    [Fact]
    public async Task PublishingChannel_CountsAsNoStreamsChannel_InDebugVarsOrTheChannelGauge()
    {
        // The presence publisher keeps a channel on the publishing connection. It counted as a leased stream channel:
        // with no stream open, /debug/vars said 1 consumer and eventsourced_broker_channels 1, for as long as the gateway ran.
        var exchange = broker.UniqueQueueName("presence");
        var watcher = broker.UniqueQueueName("watcher");
        await using var amqp = await broker.ConnectAsync(nameof(PresenceTests));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Events.Exchange = exchange);
        await WatchEventsAsync(amqp, exchange, watcher, "#");

        await using (var stream = await gateway.SubscribeAsync($"/?id={broker.UniqueQueueName("presence-queue")}"))
        {
            Assert.Equal(HttpStatusCode.OK, stream.Status);
        }

        await Wait.UntilAsync(async () => await amqp.MessageCountAsync(watcher) == 2, Timeout, "subscribed and unsubscribed published");
        await Wait.UntilAsync(
            async () =>
            {
                using var vars = JsonDocument.Parse(await gateway.Client.GetStringAsync("/debug/vars"));
                return vars.RootElement.GetProperty("streams").GetInt64() == 0 && vars.RootElement.GetProperty("consumers").GetInt64() == 0;
            },
            Timeout,
            "no stream and no consumer in /debug/vars while the presence publisher's channel is open");
        Assert.DoesNotMatch("(?m)^eventsourced_broker_channels\\{[^}]*\\} [1-9]", await gateway.Client.GetStringAsync("/metrics"));
    }

    [Fact]
    public async Task RoutingKey_IsEventKindName_SoAServiceWatchesOneTopic()
    {
        var exchange = broker.UniqueQueueName("presence");
        var watcher = broker.UniqueQueueName("watcher");
        await using var amqp = await broker.ConnectAsync(nameof(PresenceTests));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Events.Exchange = exchange);
        var room = broker.UniqueQueueName("room");
        await WatchEventsAsync(amqp, exchange, watcher, $"*.topic.{room}");

        await using (var other = await gateway.SubscribeAsync($"/topics/{broker.UniqueQueueName("other-room")}"))
        await using (var inRoom = await gateway.SubscribeAsync($"/topics/{room}"))
        {
            Assert.Equal(HttpStatusCode.OK, inRoom.Status);
        }

        var events = await amqp.ReceiveAsync(watcher, 2, Timeout);
        Assert.Equal(["subscribed", "unsubscribed"], events.Select(e => e.Properties.Type));
        Assert.Equal(0u, await amqp.MessageCountAsync(watcher));
    }

    [Fact]
    public async Task Shutdown_TheUnsubscribedEventsOfEndedStreamsAreSentBeforeTheConnectionsClose()
    {
        var exchange = broker.UniqueQueueName("presence");
        var watcher = broker.UniqueQueueName("watcher");
        await using var amqp = await broker.ConnectAsync(nameof(PresenceTests));
        await WatchEventsAsync(amqp, exchange, watcher, "unsubscribed.#");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Events.Exchange = exchange);
        var streams = new List<SseClient>();
        for (var i = 0; i < 10; i++)
        {
            streams.Add(await gateway.SubscribeAsync($"/?id={broker.UniqueQueueName("shutdown")}"));
        }

        await gateway.StopAsync();

        Assert.Equal(10, (await amqp.ReceiveAsync(watcher, 10, Timeout)).Count);
        foreach (var stream in streams)
        {
            await stream.DisposeAsync();
        }
    }

    [Fact]
    public async Task Shutdown_TheUnsubscribedEventsOfHeldPollsAreSentBeforeTheConnectionsClose()
    {
        // Held long-polls end when the gateway starts stopping, each on a task of its own that releases its channel and
        // then announces the end; the presence publisher stopped without waiting for them, so the events of those still
        // releasing were dropped (found by the attacker round: one held poll's event lost in one stop of three).
        const int polls = 200;
        var exchange = broker.UniqueQueueName("presence");
        var watcher = broker.UniqueQueueName("watcher");
        await using var amqp = await broker.ConnectAsync(nameof(PresenceTests));
        await WatchEventsAsync(amqp, exchange, watcher, "unsubscribed.#");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Events.Exchange = exchange;
            o.Poll.WaitSeconds = 0;
            o.Poll.HoldSeconds = 300;
        });
        for (var i = 0; i < polls; i++)
        {
            using var response = await gateway.Client.GetAsync($"/poll?id={broker.UniqueQueueName("held")}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await gateway.StopAsync();

        Assert.Equal(polls, (await amqp.ReceiveAsync(watcher, polls, Timeout)).Count);
        Assert.Equal(0u, await amqp.MessageCountAsync(watcher));
    }

    /// <summary>Declares the events exchange and a queue bound to it with <paramref name="binding"/>, as a service watching presence would.</summary>
    private static async Task WatchEventsAsync(Eventsourced.Testing.Brokers.AmqpTestClient amqp, string exchange, string watcher, string binding)
    {
        await amqp.DeclareExchangeAsync(exchange, RabbitMQ.Client.ExchangeType.Topic);
        await amqp.DeclareQueueAsync(watcher, expiresSeconds: 60);
        await amqp.BindQueueAsync(watcher, exchange, binding);
    }
}
