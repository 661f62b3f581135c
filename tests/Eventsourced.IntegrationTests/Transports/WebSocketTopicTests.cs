using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;
using Eventsourced.Topics;
using RabbitMQ.Client;

namespace Eventsourced.IntegrationTests.Transports;

/// <summary>Topics over WebSockets (<c>/ws/topics/NAME</c>): many subscribers, ids that are stream offsets, resume after <c>lastEventId</c>, publishing into a topic.</summary>
[Collection(BrokerStreamsCollection.Name)]
public sealed class WebSocketTopicTests(BrokerFixture broker) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private AmqpTestClient _amqp = null!;

    public async Task InitializeAsync() => _amqp = await broker.ConnectAsync(nameof(WebSocketTopicTests));

    public async Task DisposeAsync() => await _amqp.DisposeAsync();

    [Fact]
    public async Task Topic_SeveralSubscribersAtOnce_EachGetsEveryEvent_WithItsOffsetAsId()
    {
        var topic = broker.UniqueQueueName("ws-topic");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var first = await gateway.ConnectWebSocketAsync($"/ws/topics/{topic}");
        await using var second = await gateway.ConnectWebSocketAsync($"/ws/topics/{topic}");
        Assert.True(first.Connected && second.Connected, $"{first.Status} {first.Reason} / {second.Status} {second.Reason}");
        await Wait.UntilAsync(async () => await _amqp.QueueExistsAsync(StreamOf(topic)), Timeout, "the topic's stream exists");

        for (var i = 1; i <= 3; i++)
        {
            await _amqp.PublishAsync(StreamOf(topic), $"event {i}");
        }

        foreach (var ws in new[] { first, second })
        {
            var events = await ws.ReceiveMessagesAsync(3, Timeout);
            Assert.Equal(["event 1", "event 2", "event 3"], events.Select(e => e.Data));
            Assert.Equal([0ul, 1ul, 2ul], events.Select(e => e.Number));
        }

        await DeleteAsync(topic);
    }

    [Fact]
    public async Task Topic_BurstLargerThanTheBuffer_ASubscriberThatReads_GetsEveryEvent_AndStaysConnected()
    {
        // A WebSocket has no direct writes: any burst larger than topics.buffer filled its buffer before its writer
        // could write, and it was closed 1011 as slow though it read as fast as it could.
        const int Burst = 400;
        var topic = broker.UniqueQueueName("ws-topic-burst");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Topics.Buffer = 16);
        await using var ws = await gateway.ConnectWebSocketAsync($"/ws/topics/{topic}");
        Assert.True(ws.Connected, $"{ws.Status} {ws.Reason}");
        await Wait.UntilAsync(async () => await _amqp.QueueExistsAsync(StreamOf(topic)), Timeout, "the topic's stream exists");

        // All at once: the publishes go out together, each confirm awaited after.
        await using (var channel = await _amqp.Connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true)))
        {
            await Task.WhenAll(Enumerable.Range(0, Burst).Select(i =>
                channel.BasicPublishAsync("", StreamOf(topic), System.Text.Encoding.UTF8.GetBytes($"burst {i}")).AsTask()));
        }

        var events = await ws.ReceiveMessagesAsync(Burst, Timeout);
        Assert.Equal(Enumerable.Range(0, Burst).Select(i => $"burst {i}"), events.Select(e => e.Data));
        Assert.Equal(System.Net.WebSockets.WebSocketState.Open, ws.Socket.State);
        Assert.Contains("eventsourced_topic_slow_subscribers_total 0\n", await gateway.Client.GetStringAsync("/metrics"), StringComparison.Ordinal);
        await DeleteAsync(topic);
    }

    [Fact]
    public async Task Topic_AnAck_IsAnsweredThatTopicsResumeByLastEventId_NotToOpenWithAcksClient()
    {
        // It answered "open it with acks=client", which a topic refuses (400).
        var topic = broker.UniqueQueueName("ws-topic-ack");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var ws = await gateway.ConnectWebSocketAsync($"/ws/topics/{topic}");
        Assert.True(ws.Connected, $"{ws.Status} {ws.Reason}");

        await ws.SendAsync("""{"ack": 5}""");

        Assert.True(await ws.ReceiveUntilAsync(() => ws.Answers.Count > 0, Timeout), "no answer");
        Assert.Equal("""{"error":"a topic's events are not acknowledged: resume with lastEventId","ack":5}""", ws.Answers[0].GetRawText());
        await using var queue = await gateway.ConnectWebSocketAsync($"/ws?id={topic}-q");
        await queue.SendAsync("""{"ack": 5}""");
        Assert.True(await queue.ReceiveUntilAsync(() => queue.Answers.Count > 0, Timeout), "no answer");
        Assert.Equal("""{"error":"acknowledgements are automatic on this connection (open it with acks=client)","ack":5}""", queue.Answers[0].GetRawText());
        await DeleteAsync(topic);
    }

    [Fact]
    public async Task Topic_ResumeWithLastEventId_NothingMissedNothingTwice()
    {
        var topic = broker.UniqueQueueName("ws-topic-resume");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        ulong lastSeen;
        await using (var ws = await gateway.ConnectWebSocketAsync($"/ws/topics/{topic}"))
        {
            await Wait.UntilAsync(async () => await _amqp.QueueExistsAsync(StreamOf(topic)), Timeout, "the topic's stream exists");
            await _amqp.PublishAsync(StreamOf(topic), "a");
            await _amqp.PublishAsync(StreamOf(topic), "b");
            lastSeen = (await ws.ReceiveMessagesAsync(2, Timeout))[1].Number;
            await ws.CloseAsync();
        }

        await _amqp.PublishAsync(StreamOf(topic), "c while away");
        await _amqp.PublishAsync(StreamOf(topic), "d while away");
        await using var again = await gateway.ConnectWebSocketAsync($"/ws/topics/{topic}?lastEventId={lastSeen}");
        await _amqp.PublishAsync(StreamOf(topic), "e after");

        var resumed = await again.ReceiveMessagesAsync(3, Timeout);
        Assert.Equal(["c while away", "d while away", "e after"], resumed.Select(e => e.Data));
        Assert.Equal([lastSeen + 1, lastSeen + 2, lastSeen + 3], resumed.Select(e => e.Number));
        await DeleteAsync(topic);
    }

    [Fact]
    public async Task Topic_NewEventsOnly_OnATopicTheGatewayCreates_FirstFrameSaysEarliest_AndAResumeFromItMissesNothing()
    {
        var topic = broker.UniqueQueueName("ws-topic-opening");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        string startsAfter;
        await using (var ws = await gateway.ConnectWebSocketAsync($"/ws/topics/{topic}"))
        {
            Assert.True(await ws.ReceiveUntilAsync(() => ws.Frames.Count > 0, Timeout), "no first frame");
            Assert.Equal("""{"lastEventId":"earliest"}""", ws.Frames[0].GetRawText());
            Assert.Empty(ws.Messages);
            startsAfter = ws.StartsAfter!;
            await ws.CloseAsync();
        }

        // Cut off before its first event: what was published meanwhile is what it resumes with.
        await _amqp.PublishAsync(StreamOf(topic), "while away 1");
        await _amqp.PublishAsync(StreamOf(topic), "while away 2");
        await using var back = await gateway.ConnectWebSocketAsync($"/ws/topics/{topic}?lastEventId={startsAfter}");
        var events = await back.ReceiveMessagesAsync(2, Timeout);
        Assert.Equal(["while away 1", "while away 2"], events.Select(e => e.Data));
        Assert.Null(back.StartsAfter); // it named its own position
        await DeleteAsync(topic);
    }

    [Fact]
    public async Task Topic_NewEventsOnly_OnAFeedWithEvents_FirstFrameIsTheLastEventsId_AndAResumeFromItMissesNothing()
    {
        var topic = broker.UniqueQueueName("ws-topic-opening-after");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var keeper = await gateway.ConnectWebSocketAsync($"/ws/topics/{topic}");
        await Wait.UntilAsync(async () => await _amqp.QueueExistsAsync(StreamOf(topic)), Timeout, "the topic's stream exists");
        for (var i = 0; i < 3; i++)
        {
            await _amqp.PublishAsync(StreamOf(topic), $"before {i}");
        }

        var last = (await keeper.ReceiveMessagesAsync(3, Timeout))[^1].Number;
        string startsAfter;
        await using (var late = await gateway.ConnectWebSocketAsync($"/ws/topics/{topic}"))
        {
            Assert.True(await late.ReceiveUntilAsync(() => late.Frames.Count > 0, Timeout), "no first frame");
            Assert.Equal(last.ToString(System.Globalization.CultureInfo.InvariantCulture), late.StartsAfter);
            Assert.Empty(late.Messages);
            startsAfter = late.StartsAfter!;
            await late.CloseAsync();
        }

        await _amqp.PublishAsync(StreamOf(topic), "while away");
        await using var back = await gateway.ConnectWebSocketAsync($"/ws/topics/{topic}?lastEventId={startsAfter}");
        var resumed = await back.ReceiveMessagesAsync(1, Timeout);
        Assert.Equal(["while away"], resumed.Select(e => e.Data));
        Assert.Equal(last + 1, resumed[0].Number);
        await DeleteAsync(topic);
    }

    [Fact]
    public async Task Topic_LastEventIdEarliest_ReadsEverythingTheStreamHas()
    {
        var topic = broker.UniqueQueueName("ws-topic-all");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using (var first = await gateway.ConnectWebSocketAsync($"/ws/topics/{topic}"))
        {
            await Wait.UntilAsync(async () => await _amqp.QueueExistsAsync(StreamOf(topic)), Timeout, "the topic's stream exists");
            await _amqp.PublishAsync(StreamOf(topic), "the very first");
            await _amqp.PublishAsync(StreamOf(topic), "the second");
            await first.ReceiveMessagesAsync(2, Timeout);
        }

        await using var all = await gateway.ConnectWebSocketAsync($"/ws/topics/{topic}?lastEventId=earliest");
        await _amqp.PublishAsync(StreamOf(topic), "a new one");

        var events = await all.ReceiveMessagesAsync(3, Timeout);
        Assert.Equal(["the very first", "the second", "a new one"], events.Select(e => e.Data));
        Assert.Equal([0ul, 1ul, 2ul], events.Select(e => e.Number));
        await DeleteAsync(topic);
    }

    [Fact]
    public async Task Topic_WithClientAcks_Is400_ItResumesByIdInstead()
    {
        var topic = broker.UniqueQueueName("ws-topic-acks");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);

        await using var ws = await gateway.ConnectWebSocketAsync($"/ws/topics/{topic}?acks=client");

        Assert.Equal(HttpStatusCode.BadRequest, ws.Status);
        Assert.Equal("acks=client is for queues: a topic's subscriber resumes with lastEventId", ws.Reason);
    }

    [Fact]
    public async Task Publish_IntoATopicThroughTheDefaultExchange_ReachesEverySubscriberIncludingTheSender()
    {
        var room = broker.UniqueQueueName("room");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Ws.Publish = true;
            o.Ws.PublishExchange = string.Empty;
            o.Ws.PublishRoutingKey = TopicOptions.DefaultPrefix + "chat.${to}";
        });
        await using var sender = await gateway.ConnectWebSocketAsync($"/ws/topics/chat.{room}");
        await using var reader = await gateway.ConnectWebSocketAsync($"/ws/topics/chat.{room}");
        await Wait.UntilAsync(async () => await _amqp.QueueExistsAsync(StreamOf($"chat.{room}")), Timeout, "the room's stream exists");

        await sender.SendAsync($"{{\"publish\": {{\"to\": \"{room}\", \"data\": \"hello room\", \"type\": \"chat\"}}, \"ref\": \"m1\"}}");

        Assert.Equal("{\"published\":\"m1\"}", (await sender.ReceiveAnswersAsync(1, Timeout))[0].GetRawText());
        foreach (var ws in new[] { sender, reader })
        {
            var message = Assert.Single(await ws.ReceiveMessagesAsync(1, Timeout));
            Assert.Equal(("hello room", "chat"), (message.Data, message.Type));
        }

        await DeleteAsync($"chat.{room}");
    }

    private static string StreamOf(string topic) => TopicOptions.DefaultPrefix + topic;

    private Task DeleteAsync(string topic) => _amqp.DeleteQueueAsync(StreamOf(topic));
}
