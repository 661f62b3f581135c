using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// A broker resource alarm (memory or disk): RabbitMQ then stops reading every connection that publishes. The gateway's
/// publishers (WebSocket clients' publishes, presence events) used to share their connection with the subscribers, so
/// one publish during an alarm left every later subscribe on it without an answer, stalled the acknowledgements of the
/// streams on it, and left the publishing client waiting for its confirm for as long as the alarm lasted.
/// </summary>
[Collection(IsolatedBrokerCollection.Name)]
public sealed class ResourceAlarmTests(IsolatedBrokerFixture broker) : IAsyncLifetime
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    public Task InitializeAsync() => broker.EnsureRunningAsync();

    public async Task DisposeAsync()
    {
        await broker.EnsureRunningAsync();
        await broker.Rabbitmqctl.ClearMemoryAlarmAsync();
    }

    [Fact]
    public async Task DuringAMemoryAlarm_AClientPublishIsRefusedAtOnce_AndSubscribersKeepStreaming()
    {
        const string Test = nameof(DuringAMemoryAlarm_AClientPublishIsRefusedAtOnce_AndSubscribersKeepStreaming);
        await using var amqp = await broker.ConnectAsync(Test);
        var waiting = broker.UniqueQueueName(Test + "-waiting");
        var acking = broker.UniqueQueueName(Test + "-acking");
        var sink = broker.UniqueQueueName(Test + "-sink");
        var destination = broker.UniqueQueueName("alarm-to");
        await amqp.DeclareQueueAsync(waiting, expiresSeconds: 1800, durable: true); // as the gateway declares it
        await amqp.PublishAsync(waiting, "published before the alarm");
        await amqp.DeclareQueueAsync(acking, expiresSeconds: 1800, durable: true);
        for (var i = 1; i <= 6; i++)
        {
            await amqp.PublishAsync(acking, $"m{i}");
        }

        await amqp.DeclareQueueAsync(sink, expiresSeconds: 600);
        await amqp.BindQueueAsync(sink, "amq.topic", destination);

        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Ws.Publish = true;
            o.Queue.Prefetch = 2;
        });

        // A stream whose client acknowledges each message: the broker sends more only once the gateway's acks are read.
        await using var existing = await gateway.ConnectWebSocketAsync($"/ws?id={acking}&acks=client");
        var first = await existing.ReceiveMessagesAsync(2, Timeout);
        await using var publisher = await gateway.ConnectWebSocketAsync($"/ws?id={broker.UniqueQueueName(Test + "-publisher")}");
        await publisher.SendAsync($"{{\"publish\": {{\"to\": \"{destination}\", \"data\": \"before\"}}, \"ref\": \"before\"}}");
        Assert.Equal("{\"published\":\"before\"}", (await publisher.ReceiveAnswersAsync(1, Timeout))[0].GetRawText());
        var amqpUri = new Uri(broker.AmqpUrl);
        var blocked = $"eventsourced_broker_blocked{{node=\"{amqpUri.Host}:{amqpUri.Port}\"}}";
        Assert.Equal(0, await gateway.MetricAsync(blocked));

        await broker.Rabbitmqctl.RaiseMemoryAlarmAsync();
        try
        {
            // Time for the broker's connection.blocked to reach the gateway.
            await Task.Delay(TimeSpan.FromSeconds(2));

            // RabbitMQ tells a connection of the alarm only when it publishes: this first publish is held by the broker
            // (and goes on once the alarm clears), but the client is not left waiting for its confirm.
            await publisher.SendAsync($"{{\"publish\": {{\"to\": \"{destination}\", \"data\": \"during\"}}, \"ref\": \"during\"}}");
            var refused = (await publisher.ReceiveAnswersAsync(2, Prompt))[1];
            Assert.Equal("during", refused.GetProperty("ref").GetString());
            Assert.Contains("resource alarm", refused.GetProperty("error").GetString(), StringComparison.Ordinal);
            Assert.Equal(1, await gateway.MetricAsync(blocked)); // the publisher's connection; an operator sees the alarm

            // Later ones are refused before they are sent.
            await publisher.SendAsync($"{{\"publish\": {{\"to\": \"{destination}\", \"data\": \"refused\"}}, \"ref\": \"refused\"}}");
            var refusedAgain = (await publisher.ReceiveAnswersAsync(3, Prompt))[2];
            Assert.Equal("refused", refusedAgain.GetProperty("ref").GetString());
            Assert.Contains("resource alarm", refusedAgain.GetProperty("error").GetString(), StringComparison.Ordinal);

            // A new subscriber is answered and streams what was waiting in its queue.
            using (var subscribing = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
            {
                await using var late = await gateway.SubscribeAsync($"/?id={waiting}", subscribing.Token);
                Assert.Equal(HttpStatusCode.OK, late.Status);
                Assert.True(await late.ReadUntilAsync(text => text.Contains("published before the alarm", StringComparison.Ordinal), TimeSpan.FromSeconds(10)),
                    $"the new subscriber got: {late.RawText}");
            }

            // The existing stream's acknowledgements are read: the next messages come.
            await existing.AckAsync(first[1].Number, multiple: true);
            var next = await existing.ReceiveMessagesAsync(4, TimeSpan.FromSeconds(10));
            Assert.Equal(["m1", "m2", "m3", "m4"], next.Select(m => m.Data));
        }
        finally
        {
            await broker.Rabbitmqctl.ClearMemoryAlarmAsync();
        }

        await Wait.UntilAsync(async () => await gateway.MetricAsync(blocked) == 0, Timeout, "the blocked connection counted no more once the alarm cleared");
        await publisher.SendAsync($"{{\"publish\": {{\"to\": \"{destination}\", \"data\": \"after\"}}, \"ref\": \"after\"}}");
        await publisher.ReceiveAnswersAsync(4, Timeout);
        Assert.Equal("{\"published\":\"after\"}", publisher.Answers[3].GetRawText());
        var received = await amqp.ReceiveAsync(sink, 3, Timeout);
        Assert.Equal(["before", "during", "after"], received.Select(m => m.Text));
        Assert.Equal(0u, await amqp.MessageCountAsync(sink));
    }

    [Fact]
    public async Task DuringAMemoryAlarm_PresenceEventsAreDropped_AndSubscribesAreStillAnswered()
    {
        const string Test = nameof(DuringAMemoryAlarm_PresenceEventsAreDropped_AndSubscribesAreStillAnswered);
        await using var amqp = await broker.ConnectAsync(Test);
        var queues = Enumerable.Range(1, 3).Select(i => broker.UniqueQueueName($"{Test}-{i}")).ToArray();
        foreach (var queue in queues)
        {
            await amqp.DeclareQueueAsync(queue, expiresSeconds: 1800, durable: true); // as the gateway declares it
            await amqp.PublishAsync(queue, $"waiting in {queue}");
        }

        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Events.Exchange = "amq.topic");
        await broker.Rabbitmqctl.RaiseMemoryAlarmAsync();
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(2));

            // The first subscribe's "subscribed" event is the publish that has the broker block the publishing
            // connection; the subscribes after it must not wait for that connection.
            foreach (var queue in queues)
            {
                using var subscribing = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await using var sse = await gateway.SubscribeAsync($"/?id={queue}", subscribing.Token);
                Assert.Equal(HttpStatusCode.OK, sse.Status);
                Assert.True(await sse.ReadUntilAsync(text => text.Contains($"waiting in {queue}", StringComparison.Ordinal), TimeSpan.FromSeconds(10)),
                    $"the subscriber of {queue} got: {sse.RawText}");
                await Task.Delay(TimeSpan.FromMilliseconds(500));
            }

            await Wait.UntilAsync(
                async () => await gateway.MetricAsync("eventsourced_presence_events_total{outcome=\"dropped\"}") >= 1,
                TimeSpan.FromSeconds(10), "presence events dropped while the broker blocks publishes");
        }
        finally
        {
            await broker.Rabbitmqctl.ClearMemoryAlarmAsync();
        }
    }

    [Fact]
    public async Task DuringAMemoryAlarm_AStop_DoesNotWaitForTheBlockedPublisherConnection()
    {
        const string Test = nameof(DuringAMemoryAlarm_AStop_DoesNotWaitForTheBlockedPublisherConnection);
        var queues = Enumerable.Range(1, 2).Select(i => broker.UniqueQueueName($"{Test}-{i}")).ToArray();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Events.Exchange = "amq.topic");
        await broker.Rabbitmqctl.RaiseMemoryAlarmAsync();
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(2));

            // The first subscribe's "subscribed" event has the broker block the publishing connection; the next one's
            // is dropped once the gateway knows of the block.
            foreach (var queue in queues)
            {
                using var subscribing = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await using var sse = await gateway.SubscribeAsync($"/?id={queue}", subscribing.Token);
                Assert.Equal(HttpStatusCode.OK, sse.Status);
                await Task.Delay(TimeSpan.FromMilliseconds(500));
            }

            await Wait.UntilAsync(
                async () => await gateway.MetricAsync("eventsourced_presence_events_total{outcome=\"dropped\"}") >= 1,
                TimeSpan.FromSeconds(10), "presence events dropped while the broker blocks publishes");

            // The broker reads nothing from a blocked connection: waiting for its answer to channel.close and
            // connection.close took the whole server.shutdown_timeout (10 s) of a stop that has nothing else to do.
            var stopping = System.Diagnostics.Stopwatch.StartNew();
            await gateway.StopAsync();
            stopping.Stop();
            Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(3), $"the stop took {stopping.Elapsed.TotalSeconds:0.0} s during the alarm");
        }
        finally
        {
            await broker.Rabbitmqctl.ClearMemoryAlarmAsync();
        }
    }
}
