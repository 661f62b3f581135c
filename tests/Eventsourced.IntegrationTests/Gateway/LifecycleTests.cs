using System.Diagnostics;
using System.Net;
using System.Text;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

[Collection(BrokerLifecycleCollection.Name)]
public sealed partial class LifecycleTests(BrokerFixture broker) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);
    private AmqpTestClient _amqp = null!;

    public async Task InitializeAsync() =>
        _amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(LifecycleTests));

    public Task DisposeAsync() => _amqp.DisposeAsync().AsTask();

    [Fact]
    public async Task ClientAborts_ReleaseEveryChannelAndConsumer()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        var queues = Enumerable.Range(0, 50).Select(i => broker.UniqueQueueName($"abort{i}")).ToArray();
        var clients = await Task.WhenAll(queues.Select(q => gateway.SubscribeAsync($"/?id={q}")));
        Assert.All(clients, c => Assert.Equal(HttpStatusCode.OK, c.Status));
        Assert.Equal(50, gateway.Pool.Slots.Sum(s => s.Leases));

        // Half leave politely, half vanish mid-stream with messages in flight.
        for (var i = 0; i < clients.Length; i++)
        {
            await _amqp.PublishAsync(queues[i], "in flight");
            await clients[i].DisposeAsync();
        }

        await Wait.UntilAsync(() => Task.FromResult(gateway.Pool.Slots.Sum(s => s.Leases) == 0), Patience, "gateway leases back to zero");
        await Wait.UntilAsync(async () => (await broker.Rabbitmqctl.ChannelCountAsync(ConnectionPrefix(gateway))) == 0, Patience, "broker shows no channels of the gateway");
        foreach (var q in queues)
        {
            Assert.Equal(0u, await _amqp.ConsumerCountAsync(q));
        }
    }

    [Fact]
    public async Task QueueDeletedWhileStreaming_EndsTheStreamAndReleasesTheChannel()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        var queue = broker.UniqueQueueName(nameof(QueueDeletedWhileStreaming_EndsTheStreamAndReleasesTheChannel));
        await using var sse = await gateway.SubscribeAsync($"/?id={queue}");
        Assert.Equal(HttpStatusCode.OK, sse.Status);

        await _amqp.DeleteQueueAsync(queue);

        await sse.WaitForEndAsync(Patience);
        await Wait.UntilAsync(() => Task.FromResult(gateway.Pool.Slots.Sum(s => s.Leases) == 0), Patience, "lease released");
    }

    [Fact]
    public async Task AbandonedQueue_IsDroppedByTheBrokerAfterExpiry()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Queue.ExpiresSeconds = 2);
        var queue = broker.UniqueQueueName(nameof(AbandonedQueue_IsDroppedByTheBrokerAfterExpiry));
        var sse = await gateway.SubscribeAsync($"/?id={queue}");
        Assert.Equal(HttpStatusCode.OK, sse.Status);

        // While consumed, the queue outlives its expiry. (Looked at through rabbitmqctl: a passive
        // declare over AMQP would itself renew the expiry.)
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.NotNull(await broker.Rabbitmqctl.FindQueueAsync(queue));

        await sse.DisposeAsync();
        await Wait.UntilAsync(async () => await broker.Rabbitmqctl.FindQueueAsync(queue) is null, Patience, "queue expired after its consumer left");
    }

    [Fact]
    public async Task QueueWithOtherArguments_RequestedAgainAndAgain_IsLoggedOnceThenSummedUp()
    {
        // Each request for such a queue is the broker's refusal: one warning line per request let a client write
        // the log as fast as it sends requests.
        const int Requests = 30;
        var queue = broker.UniqueQueueName(nameof(QueueWithOtherArguments_RequestedAgainAndAgain_IsLoggedOnceThenSummedUp));
        await _amqp.DeclareQueueAsync(queue, expiresSeconds: 600);
        var log = new CollectedLog();
        var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Queue.ExpiresSeconds = 1800, log);
        try
        {
            for (var i = 0; i < Requests; i++)
            {
                using var response = await gateway.Client.GetAsync($"/?id={queue}");
                Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            }

            var first = Assert.Single(log.Entries, e => e.EventId == 306);
            Assert.StartsWith($"Subscription to queue {queue} refused: ", first.Message, StringComparison.Ordinal);
            Assert.Contains("PRECONDITION_FAILED", first.Message, StringComparison.Ordinal);
        }
        finally
        {
            await gateway.DisposeAsync();
        }

        // The repeats are summed up when the gateway stops, if not before.
        var repeated = log.Entries.Where(e => e.EventId == 310).ToList();
        Assert.All(repeated, e => Assert.Contains(queue, e.Message, StringComparison.Ordinal));
        Assert.Equal(Requests - 1, repeated.Sum(e => int.Parse(RepeatCount().Match(e.Message).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Fact]
    public async Task RefusalsOfManyQueues_ForOneReason_AreLoggedOnceThenSummedUp_NamingTheLatestQueue()
    {
        // The broker refuses every queue's bind to a missing exchange: a client walking ids (?id=flood1, ?id=flood2, ...)
        // wrote one warning per queue name, as fast as it sent requests.
        const int Requests = 40;
        var prefix = broker.UniqueQueueName("flood");
        var log = new CollectedLog();
        var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Queue.ExpiresSeconds = 5;
            o.Queue.Bind = ["amq.nosuch:topic:k.${query:id}"];
        }, log);
        try
        {
            for (var i = 0; i < Requests; i++)
            {
                using var response = await gateway.Client.GetAsync($"/?id={prefix}{i}");
                Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            }

            var first = Assert.Single(log.Entries, e => e.EventId == 306);
            Assert.StartsWith($"Subscription to queue {prefix}0 refused: ", first.Message, StringComparison.Ordinal);
            Assert.Contains("NOT_FOUND", first.Message, StringComparison.Ordinal);
            Assert.Contains("amq.nosuch", first.Message, StringComparison.Ordinal);
        }
        finally
        {
            await gateway.DisposeAsync();
        }

        // The repeats are summed up when the gateway stops, if not before; the last line names the latest queue.
        var repeated = log.Entries.Where(e => e.EventId == 310).ToList();
        Assert.NotEmpty(repeated);
        Assert.StartsWith($"Subscription to queue {prefix}{Requests - 1} refused ", repeated[^1].Message, StringComparison.Ordinal);
        Assert.All(repeated, e => Assert.Contains("amq.nosuch", e.Message, StringComparison.Ordinal));
        Assert.Equal(Requests - 1, repeated.Sum(e => int.Parse(RepeatCount().Match(e.Message).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)));
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"refused (\d+) more times")]
    private static partial System.Text.RegularExpressions.Regex RepeatCount();

    [Fact]
    public async Task QueueWithOtherArguments_IsRefused_AndKeepsItsMessages()
    {
        var queue = broker.UniqueQueueName(nameof(QueueWithOtherArguments_IsRefused_AndKeepsItsMessages));
        await _amqp.DeclareQueueAsync(queue, expiresSeconds: 600);
        await _amqp.PublishAsync(queue, "another application's");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Queue.ExpiresSeconds = 1800);

        using var response = await gateway.Client.GetAsync($"/?id={queue}");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("queue is not available", response.Headers.GetValues("X-Status-Reason").Single());
        Assert.Equal(1u, await _amqp.MessageCountAsync(queue));
        Assert.Equal(0u, await _amqp.ConsumerCountAsync(queue));
        await Wait.UntilAsync(() => Task.FromResult(gateway.Pool.Slots.Sum(s => s.Leases) == 0), Patience, "channel released");
        Assert.Contains("eventsourced_streams_total{outcome=\"queue_refused\"} 1", await gateway.Client.GetStringAsync("/metrics"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("classic", 600, "x-expires")]
    [InlineData("quorum", 1800, "x-queue-type")]
    public async Task QueueDeclaredUnderAnEarlierConfiguration_IsRefused_AndTheLogSaysHowToAdoptIt(string type, int expires, string argument)
    {
        // An operator changed queue.expires (or queue.type) and restarted: every returning subscriber's queue still has
        // the old arguments. The log must say which argument differs and what the operator can do about it.
        var queue = broker.UniqueQueueName(nameof(QueueDeclaredUnderAnEarlierConfiguration_IsRefused_AndTheLogSaysHowToAdoptIt) + type);
        await _amqp.DeclareQueueAsync(queue, expiresSeconds: expires, durable: true);
        var log = new CollectedLog();
        await using (var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Queue.Type = type, log))
        {
            using var response = await gateway.Client.GetAsync($"/?id={queue}");
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Equal("queue is not available", response.Headers.GetValues("X-Status-Reason").Single());
        }

        var entry = Assert.Single(log.Entries, e => e.EventId == 306);
        Assert.Contains(argument, entry.Message, StringComparison.Ordinal);
        Assert.Contains("set queue.adopt_existing: true", entry.Message, StringComparison.Ordinal);
        await _amqp.DeleteQueueAsync(queue);
    }

    [Fact]
    public async Task QueueWithOtherArguments_IsConsumedAsItIs_WithAdoptExisting()
    {
        var queue = broker.UniqueQueueName(nameof(QueueWithOtherArguments_IsConsumedAsItIs_WithAdoptExisting));
        await _amqp.DeclareQueueAsync(queue, expiresSeconds: 600);
        await _amqp.PublishAsync(queue, "waiting");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Queue.ExpiresSeconds = 1800;
            o.Queue.AdoptExisting = true;
        });

        await using var sse = await gateway.SubscribeAsync($"/?id={queue}");

        Assert.Equal(HttpStatusCode.OK, sse.Status);
        Assert.Equal(["waiting"], await sse.ReadEventsAsync(1, Patience));
        Assert.Equal(1, gateway.Pool.Slots.Sum(s => s.Leases));
    }

    /// <summary>
    /// During a <c>queue.adopt_existing</c> transition the broker refuses a queue's configured declare once, not at every
    /// subscribe (each refusal is an error line in the broker's log, and a channel closed and opened); a queue deleted
    /// since is declared as configured again.
    /// </summary>
    [Theory]
    [InlineData(1, "classic")]
    [InlineData(4, "classic")]
    [InlineData(1, "quorum")]
    public async Task QueueWithOtherArguments_WithAdoptExisting_IsRefusedByTheBrokerOnce_NotAtEverySubscribe(int subscribersPerChannel, string type)
    {
        var queue = broker.UniqueQueueName($"{nameof(QueueWithOtherArguments_WithAdoptExisting_IsRefusedByTheBrokerOnce_NotAtEverySubscribe)}{subscribersPerChannel}{type}");
        await _amqp.DeclareQueueAsync(queue, expiresSeconds: 600, durable: true);
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Queue.ExpiresSeconds = 1800;
            o.Queue.AdoptExisting = true;
            o.Broker.SubscribersPerChannel = subscribersPerChannel;
            o.Queue.Type = type; // quorum: a transition from classic queues
        });

        for (var i = 0; i < 5; i++)
        {
            await _amqp.PublishAsync(queue, $"m{i}");
            await using (var sse = await gateway.SubscribeAsync($"/?id={queue}"))
            {
                Assert.Equal(HttpStatusCode.OK, sse.Status);
                Assert.Equal([$"m{i}"], await sse.ReadEventsAsync(1, Patience));
            }

            await Wait.UntilAsync(() => Task.FromResult(!gateway.Pool.HoldsQueue(queue) && gateway.Pool.Slots.Sum(s => s.Leases) == 0), Patience, "the stream has left");
        }

        await Wait.UntilAsync(async () => await broker.Rabbitmqctl.InequivalentDeclaresAsync(queue) > 0, Patience, "the broker logs the first refused declare");
        await Task.Delay(TimeSpan.FromSeconds(1)); // the broker's log is written asynchronously
        Assert.Equal(1, await broker.Rabbitmqctl.InequivalentDeclaresAsync(queue));

        // Gone (deleted, expired): the next subscribe declares it as configured, which a declare of those arguments confirms.
        await _amqp.DeleteQueueAsync(queue);
        await using (var sse = await gateway.SubscribeAsync($"/?id={queue}"))
        {
            Assert.Equal(HttpStatusCode.OK, sse.Status);
        }

        await _amqp.DeclareQueueAsync(
            queue, expiresSeconds: 1800, durable: true, arguments: type == "quorum" ? new Dictionary<string, object?> { ["x-queue-type"] = "quorum" } : null);
        await _amqp.DeleteQueueAsync(queue);
    }

    [Fact]
    public async Task IdleStream_GetsHeartbeatComments()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Server.HeartbeatSeconds = 1);
        var queue = broker.UniqueQueueName(nameof(IdleStream_GetsHeartbeatComments));
        await using var sse = await gateway.SubscribeAsync($"/?id={queue}");

        Assert.True(await sse.ReadUntilAsync(t => t.Split(": heartbeat\n\n").Length >= 3, Patience));
        Assert.StartsWith(": SSE stream\n\n: heartbeat\n\n", sse.RawText, StringComparison.Ordinal);
        Assert.Empty(sse.Events());
    }

    /// <summary>
    /// <c>sse.heartbeat_event</c>: heartbeats a page can see and time (a comment reaches no script), on queue and topic
    /// streams, over direct writes and Kestrel's path; the event between messages changes nothing else.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task HeartbeatEvent_IdleStreamsOfQueuesAndTopics_GetAnEventOfThatTypeWithEmptyData(bool directWrites)
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Server.HeartbeatSeconds = 1;
            o.Sse.HeartbeatEvent = "heartbeat";
            o.Sse.DirectWrites = directWrites;
        });
        var queue = broker.UniqueQueueName(nameof(HeartbeatEvent_IdleStreamsOfQueuesAndTopics_GetAnEventOfThatTypeWithEmptyData));
        await using var sse = await gateway.SubscribeAsync($"/?id={queue}");
        await using var topic = await gateway.SubscribeAsync($"/topics/{queue}");
        const string Beat = "event: heartbeat\ndata:\n\n";

        Assert.True(await sse.ReadUntilAsync(t => t.Split(Beat).Length >= 3, Patience), sse.RawText);
        Assert.StartsWith(": SSE stream\n\n" + Beat, sse.RawText, StringComparison.Ordinal);
        Assert.DoesNotContain("\n: heartbeat\n", sse.RawText, StringComparison.Ordinal);
        await _amqp.PublishAsync(queue, "between beats");
        Assert.True(await sse.ReadUntilAsync(t => t.Contains("data: between beats\n\n" + Beat, StringComparison.Ordinal), Patience), sse.RawText);
        Assert.True(await topic.ReadUntilAsync(t => t.Split(Beat).Length >= 3, Patience), topic.RawText);
    }

    /// <summary>
    /// README: "something arrives at least every server.heartbeat seconds". A heartbeat tick that saw a message skipped
    /// its heartbeat and the next came a whole interval later: up to twice the interval of silence after a message (7.6 s
    /// with a 5 s heartbeat, seen with curl), which a proxy whose read timeout lies between the two cuts. Queue streams
    /// (the stream's own writer) and topic streams (the topic's feed writes to the socket), with and without direct writes.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Heartbeat_ComesOneIntervalAfterTheLastMessage_NotUpToTwo(bool directWrites)
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Server.HeartbeatSeconds = 2;
            o.Sse.DirectWrites = directWrites;
        });
        var queue = broker.UniqueQueueName(nameof(Heartbeat_ComesOneIntervalAfterTheLastMessage_NotUpToTwo));
        await using var sse = await gateway.SubscribeAsync($"/?id={queue}");
        await using var topic = await gateway.SubscribeAsync($"/topics/{queue}");
        const string Beat = ": heartbeat\n\n";
        foreach (var (stream, routingKey) in new[] { (sse, queue), (topic, "topic." + queue) })
        {
            // Just after a heartbeat tick: the message falls early in the next interval, the worst case before the fix.
            var beats = stream.RawText.Split(Beat).Length;
            Assert.True(await stream.ReadUntilAsync(t => t.Split(Beat).Length > beats, Patience), stream.RawText);
            await Task.Delay(TimeSpan.FromMilliseconds(300));
            await _amqp.PublishAsync(routingKey, Encoding.UTF8.GetBytes("between beats"));
            Assert.True(await stream.ReadUntilAsync(t => t.Contains("data: between beats\n\n", StringComparison.Ordinal), Patience), stream.RawText);
            var silence = Stopwatch.StartNew();
            Assert.True(await stream.ReadUntilAsync(t => t.EndsWith("data: between beats\n\n" + Beat, StringComparison.Ordinal), Patience), stream.RawText);
            Assert.True(silence.Elapsed < TimeSpan.FromSeconds(2.5), $"{silence.Elapsed.TotalSeconds:0.00} s of silence after a message, with server.heartbeat: 2");
        }
    }

    [Fact]
    public async Task UnwrittenDeliveries_GoBackToTheQueue_WhenTheClientLeaves()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Queue.Prefetch = 10);
        var queue = broker.UniqueQueueName(nameof(UnwrittenDeliveries_GoBackToTheQueue_WhenTheClientLeaves));
        await _amqp.DeclareQueueAsync(queue, expiresSeconds: 1800, durable: true); // as the gateway declares it
        for (var i = 0; i < 5; i++)
        {
            await _amqp.PublishAsync(queue, $"m{i}");
        }

        var first = await gateway.SubscribeAsync($"/?id={queue}");
        Assert.Equal(["m0", "m1", "m2", "m3", "m4"], await first.ReadEventsAsync(5, Patience));
        await first.DisposeAsync();
        await _amqp.UntilConsumersAsync(queue, 0, Patience, "consumer released");

        // All five were flushed and acknowledged: nothing is left, nothing is delivered twice.
        Assert.Equal(0u, await _amqp.MessageCountAsync(queue));
        await _amqp.PublishAsync(queue, "m5");
        await using var second = await gateway.SubscribeAsync($"/?id={queue}");
        Assert.Equal(["m5"], await second.ReadEventsAsync(1, Patience));
    }

    [Fact]
    public async Task NoBrokerReachable_Answers503AtOnce()
    {
        var closedPort = FreePort.Next();
        await using var gateway = await GatewayServer.StartAsync($"amqp://guest:secret@127.0.0.1:{closedPort}/");
        var started = DateTime.UtcNow;

        using var response = await gateway.Client.GetAsync("/?id=nobody-home");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("no broker connection is up", response.Headers.GetValues("X-Status-Reason").Single());
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(2), "a subscriber must not wait for a broker that is down");
    }

    private static string ConnectionPrefix(GatewayServer gateway) => gateway.Pool.ConnectionNamePrefix + " #";
}
