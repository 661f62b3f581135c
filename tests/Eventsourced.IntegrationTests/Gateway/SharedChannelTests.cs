using System.Net;
using Eventsourced.Consuming;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// <c>broker.subscribers_per_channel</c> above 1: subscribers share AMQP channels, where delivery tags and a
/// multiple-ack span every consumer of the channel. Each subscriber settles only its own deliveries, gives back only
/// its own when it leaves, and is refused with 503 while another holds its queue, on this gateway or another of
/// either mode.
/// </summary>
[Collection(BrokerLifecycleCollection.Name)]
public sealed class SharedChannelTests(BrokerFixture broker) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private AmqpTestClient _amqp = null!;

    public async Task InitializeAsync() => _amqp = await broker.ConnectAsync(nameof(SharedChannelTests));

    public async Task DisposeAsync() => await _amqp.DisposeAsync();

    [Fact]
    public async Task TenSubscribers_FourPerChannel_ShareThreeChannels_EachGetsItsOwnInOrder()
    {
        await using var gateway = await StartAsync(perChannel: 4);
        var queues = Enumerable.Range(0, 10).Select(i => broker.UniqueQueueName($"{nameof(TenSubscribers_FourPerChannel_ShareThreeChannels_EachGetsItsOwnInOrder)}{i}")).ToArray();
        var clients = new List<SseClient>();
        try
        {
            foreach (var queue in queues)
            {
                var client = await gateway.SubscribeAsync($"/?id={queue}");
                clients.Add(client);
                Assert.Equal(HttpStatusCode.OK, client.Status);
            }

            Assert.Equal(3, await ChannelsAsync(gateway));
            Assert.Equal([4, 4, 2], SharedChannels(gateway).Select(c => c.Members).OrderDescending());
            for (var round = 0; round < 3; round++)
            {
                foreach (var queue in queues)
                {
                    await _amqp.PublishAsync(queue, $"{queue}:{round}");
                }
            }

            for (var i = 0; i < queues.Length; i++)
            {
                Assert.Equal([$"{queues[i]}:0", $"{queues[i]}:1", $"{queues[i]}:2"], await clients[i].ReadEventsAsync(3, Timeout));
            }

            foreach (var queue in queues)
            {
                await Wait.UntilAsync(async () => await _amqp.MessageCountAsync(queue) == 0 && await UnacknowledgedAsync(queue) == 0, Timeout, $"{queue} all acknowledged");
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }

        // The last member of each channel closes it.
        await Wait.UntilAsync(async () => await ChannelsAsync(gateway) == 0, Timeout, "every shared channel closed");
    }

    [Fact]
    public async Task NeighboursAcknowledgingTheirOwn_NeverAcknowledgeADeliveryAnotherHolds()
    {
        var held = broker.UniqueQueueName(nameof(NeighboursAcknowledgingTheirOwn_NeverAcknowledgeADeliveryAnotherHolds) + "h");
        var busy = broker.UniqueQueueName(nameof(NeighboursAcknowledgingTheirOwn_NeverAcknowledgeADeliveryAnotherHolds) + "b");
        await using var gateway = await StartAsync(perChannel: 64);
        await using (var holder = await gateway.ConnectWebSocketAsync($"/ws?id={held}&acks=client"))
        await using (var reader = await gateway.SubscribeAsync($"/?id={busy}"))
        {
            Assert.True(holder.Connected, $"upgrade refused: {holder.Status} {holder.Reason}");
            Assert.Equal(HttpStatusCode.OK, reader.Status);
            await _amqp.UntilConsumersAsync(held, 1, Timeout, "the holder consumes");
            Assert.Equal(1, await ChannelsAsync(gateway));

            // Interleaved on the channel: h1 below the reader's tags, h2 among them, h3 above them.
            await _amqp.PublishAsync(held, "h1");
            Assert.Equal("h1", Assert.Single(await holder.ReceiveMessagesAsync(1, Timeout)).Data);
            for (var i = 1; i <= 10; i++)
            {
                await _amqp.PublishAsync(busy, $"b{i}");
                if (i == 5)
                {
                    await _amqp.PublishAsync(held, "h2");
                    await holder.ReceiveMessagesAsync(2, Timeout);
                }
            }

            Assert.Equal(Enumerable.Range(1, 10).Select(i => $"b{i}"), await reader.ReadEventsAsync(10, Timeout));
            await _amqp.PublishAsync(held, "h3");
            var messages = await holder.ReceiveMessagesAsync(3, Timeout);
            Assert.Equal(["h1", "h2", "h3"], messages.Select(m => m.Data));

            // The holder acknowledges h2 alone; the reader's cumulative acknowledgements covered the tags around it.
            await holder.AckAsync(messages[1].Number);
            await Wait.UntilAsync(async () => await UnacknowledgedAsync(busy) == 0 && await _amqp.MessageCountAsync(busy) == 0, Timeout, "the reader's all acknowledged");
            await Wait.UntilAsync(async () => await UnacknowledgedAsync(held) == 2, Timeout, "h1 and h3 still held");
            await Task.Delay(300);
            Assert.Equal(2, await UnacknowledgedAsync(held));
            await holder.CloseAsync();
        }

        await _amqp.UntilConsumersAsync(held, 0, Timeout, "the holder's consumer is gone");
        Assert.Equal(2u, await _amqp.MessageCountAsync(held));
        await using var again = await gateway.ConnectWebSocketAsync($"/ws?id={held}&acks=client");
        Assert.Equal(["h1", "h3"], (await again.ReceiveMessagesAsync(2, Timeout)).Select(m => m.Data));
    }

    [Fact]
    public async Task Leaving_GivesBackOnlyItsOwn_DeletesItsLock_AndTheNeighbourStreamsOn()
    {
        var leaving = broker.UniqueQueueName(nameof(Leaving_GivesBackOnlyItsOwn_DeletesItsLock_AndTheNeighbourStreamsOn) + "l");
        var staying = broker.UniqueQueueName(nameof(Leaving_GivesBackOnlyItsOwn_DeletesItsLock_AndTheNeighbourStreamsOn) + "s");
        // The neighbour holds s1 unacknowledged throughout: on a loaded machine the test outlasted the 30 s ws.ack_timeout,
        // and s1 came again before s2.
        await using var gateway = await StartAsync(perChannel: 64, o => o.Ws.AckTimeoutSeconds = 600);
        await using var neighbour = await gateway.ConnectWebSocketAsync($"/ws?id={staying}&acks=client");
        Assert.True(neighbour.Connected);
        await using (var leaver = await gateway.ConnectWebSocketAsync($"/ws?id={leaving}&acks=client"))
        {
            Assert.True(leaver.Connected);
            Assert.True(await LockExistsAsync(leaving), "the subscriber holds its queue's lock");
            await _amqp.PublishAsync(staying, "s1");
            Assert.Single(await neighbour.ReceiveMessagesAsync(1, Timeout));
            for (var i = 1; i <= 4; i++)
            {
                await _amqp.PublishAsync(leaving, $"l{i}");
            }

            var got = await leaver.ReceiveMessagesAsync(4, Timeout);
            await leaver.AckAsync(got[0].Number);
            await Wait.UntilAsync(async () => await UnacknowledgedAsync(leaving) == 3, Timeout, "three held by the leaver");
            await leaver.CloseAsync();
        }

        await _amqp.UntilConsumersAsync(leaving, 0, Timeout, "the leaver's consumer is gone");
        await Wait.UntilAsync(async () => !await LockExistsAsync(leaving), Timeout, "the leaver's lock deleted");
        Assert.Equal(3u, await _amqp.MessageCountAsync(leaving));
        // The neighbour's delivery is still its own to acknowledge, on the channel that stayed open.
        Assert.Equal(1, await UnacknowledgedAsync(staying));
        Assert.Equal(1, await ChannelsAsync(gateway));
        await _amqp.PublishAsync(staying, "s2");
        var next = await neighbour.ReceiveMessagesAsync(2, Timeout);
        Assert.Equal(["s1", "s2"], next.Select(m => m.Data));
        await neighbour.AckAsync(next[1].Number, multiple: true);
        await Wait.UntilAsync(async () => await UnacknowledgedAsync(staying) == 0, Timeout, "the neighbour's acknowledged");

        await using var back = await gateway.ConnectWebSocketAsync($"/ws?id={leaving}&acks=client");
        Assert.Equal(["l2", "l3", "l4"], (await back.ReceiveMessagesAsync(3, Timeout)).Select(m => m.Data));
    }

    [Theory]
    [InlineData("classic")]
    [InlineData("quorum")]
    public async Task SecondSubscriber_IsRefused503_WhicheverGatewayModeHoldsTheQueue(string type)
    {
        var queue = broker.UniqueQueueName(nameof(SecondSubscriber_IsRefused503_WhicheverGatewayModeHoldsTheQueue) + type);
        await using var shared = await StartAsync(perChannel: 64, o => (o.Queue.Type, o.Queue.BusyGraceSeconds) = (type, 0));
        await using var own = await StartAsync(perChannel: 1, o => (o.Queue.Type, o.Queue.BusyGraceSeconds) = (type, 0));
        foreach (var (first, second) in new[] { (shared, own), (own, shared), (shared, shared) })
        {
            await using (var holder = await first.SubscribeAsync($"/?id={queue}"))
            {
                Assert.Equal(HttpStatusCode.OK, holder.Status);
                await using var refused = await second.SubscribeAsync($"/?id={queue}");
                Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.Status);
                Assert.Equal("queue is already being consumed by another subscriber\n", await refused.ReadBodyAsync());
                Assert.Equal(1u, await _amqp.ConsumerCountAsync(queue));
            }

            await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the holder is gone");
            await Wait.UntilAsync(async () => !await LockExistsAsync(queue), Timeout, "its lock is gone");
        }
    }

    [Fact]
    public async Task ThirtySimultaneousSubscribers_OnTwoSharingGateways_ExactlyOneGets200()
    {
        var queue = broker.UniqueQueueName(nameof(ThirtySimultaneousSubscribers_OnTwoSharingGateways_ExactlyOneGets200));
        await using var a = await StartAsync(perChannel: 64, o => o.Queue.BusyGraceSeconds = 0);
        await using var b = await StartAsync(perChannel: 64, o => o.Queue.BusyGraceSeconds = 0);
        using var start = new ManualResetEventSlim();
        var attempts = Enumerable.Range(0, 30).Select(i => Task.Run(async () =>
        {
            start.Wait();
            return await (i % 2 == 0 ? a : b).SubscribeAsync($"/?id={queue}");
        })).ToArray();
        start.Set();
        var clients = await Task.WhenAll(attempts);
        try
        {
            Assert.Single(clients, c => c.Status == HttpStatusCode.OK);
            Assert.Equal(29, clients.Count(c => c.Status == HttpStatusCode.ServiceUnavailable));
            Assert.Equal(1u, await _amqp.ConsumerCountAsync(queue));
            var winner = clients.Single(c => c.Status == HttpStatusCode.OK);
            await _amqp.PublishAsync(queue, "to the one");
            Assert.Equal(["to the one"], await winner.ReadEventsAsync(1, Timeout));
        }
        finally
        {
            foreach (var c in clients)
            {
                await c.DisposeAsync();
            }
        }

        // Nothing of the refused ones stayed: no lock, no consumer, no leftover channel.
        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the winner is gone");
        await Wait.UntilAsync(async () => !await LockExistsAsync(queue), Timeout, "no lock left");
        await Wait.UntilAsync(async () => await ChannelsAsync(a) == 0 && await ChannelsAsync(b) == 0, Timeout, "no channel left");
    }

    [Fact]
    public async Task ChannelError_EndsEveryStreamOnIt_LosesNothing_AndTheyComeBackOnANewChannel()
    {
        var queues = Enumerable.Range(0, 3).Select(i => broker.UniqueQueueName(nameof(ChannelError_EndsEveryStreamOnIt_LosesNothing_AndTheyComeBackOnANewChannel) + i)).ToArray();
        await using var gateway = await StartAsync(perChannel: 64);
        var clients = new List<WebSocketClient>();
        foreach (var queue in queues)
        {
            var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}&acks=client");
            Assert.True(ws.Connected);
            clients.Add(ws);
            await _amqp.PublishAsync(queue, $"{queue}:held");
            await ws.ReceiveMessagesAsync(1, Timeout);
        }

        try
        {
            var channel = Assert.Single(SharedChannels(gateway));
            // A tag the channel never delivered: the broker closes the channel (406), as a gateway bug would make it.
            await channel.Channel.BasicAckAsync(1_000_000, multiple: false);
            foreach (var ws in clients)
            {
                await ws.WaitForCloseAsync(Timeout);
                Assert.True(ws.Ended, "the stream ended with its channel");
            }
        }
        finally
        {
            foreach (var ws in clients)
            {
                await ws.DisposeAsync();
            }
        }

        foreach (var queue in queues)
        {
            await _amqp.UntilConsumersAsync(queue, 0, Timeout, $"{queue} released");
            await Wait.UntilAsync(async () => !await LockExistsAsync(queue), Timeout, $"{queue}'s lock deleted");
            Assert.Equal(1u, await _amqp.MessageCountAsync(queue));
        }

        await Wait.UntilAsync(async () => await ChannelsAsync(gateway) == 0, Timeout, "the dead channel given back");
        foreach (var queue in queues)
        {
            await using var again = await gateway.ConnectWebSocketAsync($"/ws?id={queue}&acks=client");
            Assert.True(again.Connected);
            var message = Assert.Single(await again.ReceiveMessagesAsync(1, Timeout));
            Assert.Equal($"{queue}:held", message.Data);
            await again.AckAsync(message.Number);
            await Wait.UntilAsync(async () => await UnacknowledgedAsync(queue) == 0 && await _amqp.MessageCountAsync(queue) == 0, Timeout, $"{queue} acknowledged");
        }
    }

    [Fact]
    public async Task Leaving_WhileTheConnectionHasNoFreeChannel_StillFreesTheQueue()
    {
        // A burst of subscribers can take every channel of the connection at the moment one leaves: leaving must not
        // need a new channel, or the lock would stay (and the queue answer 503 elsewhere) as long as the connection.
        var queue = broker.UniqueQueueName(nameof(Leaving_WhileTheConnectionHasNoFreeChannel_StillFreesTheQueue));
        await using var gateway = await StartAsync(perChannel: 64);
        await using var other = await StartAsync(perChannel: 64, o => o.Queue.BusyGraceSeconds = 0);
        var slot = Assert.Single(gateway.Pool.Slots);
        // A neighbour keeps the shared channel open: the leaver's going does not free a channel either.
        await using var neighbour = await gateway.SubscribeAsync($"/?id={queue}-n");
        Assert.Equal(HttpStatusCode.OK, neighbour.Status);
        EveryChannelTaken? taken = null;
        try
        {
            await using (var leaver = await gateway.SubscribeAsync($"/?id={queue}"))
            {
                Assert.Equal(HttpStatusCode.OK, leaver.Status);
                await _amqp.PublishAsync(queue, "before");
                Assert.Equal(["before"], await leaver.ReadEventsAsync(1, Timeout));
                Assert.True(await LockExistsAsync(queue));
                taken = EveryChannelTaken.Of(slot);
                Assert.True(taken.Count > 0);
            }

            await Wait.UntilAsync(async () => !await LockExistsAsync(queue), Timeout, "the lock deleted without a new channel");
            await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the consumer is gone");
        }
        finally
        {
            taken?.Dispose();
        }

        await using (var elsewhere = await other.SubscribeAsync($"/?id={queue}"))
        {
            Assert.Equal(HttpStatusCode.OK, elsewhere.Status);
        }

        await Wait.UntilAsync(async () => !await LockExistsAsync(queue), Timeout, "the other gateway's lock deleted");
        await using var again = await gateway.SubscribeAsync($"/?id={queue}");
        Assert.Equal(HttpStatusCode.OK, again.Status);
        Assert.Equal(1, await ChannelsAsync(gateway));
    }

    [Fact]
    public async Task QueueHeldOnThisGateway_IsBusyAtOnce_WithoutTouchingTheBroker()
    {
        // A client reconnecting while its previous stream still leaves: answered (or retried) from what the gateway
        // knows, not with a channel opened and closed per try; here no channel is free, so a try on the broker
        // would open a second connection.
        var queue = broker.UniqueQueueName(nameof(QueueHeldOnThisGateway_IsBusyAtOnce_WithoutTouchingTheBroker));
        await using var gateway = await StartAsync(perChannel: 64, o => o.Queue.BusyGraceSeconds = 1);
        var slot = Assert.Single(gateway.Pool.Slots);
        await using var holder = await gateway.SubscribeAsync($"/?id={queue}");
        Assert.Equal(HttpStatusCode.OK, holder.Status);
        using (EveryChannelTaken.Of(slot))
        {
            await using var refused = await gateway.SubscribeAsync($"/?id={queue}");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.Status);
            Assert.Equal("queue is already being consumed by another subscriber\n", await refused.ReadBodyAsync());
            Assert.Single(gateway.Pool.Slots);
        }
    }

    [Fact]
    public async Task Leaving_AfterAnOperatorDeletedTheLock_LeavesTheNeighboursStreaming()
    {
        // Deleting a queue that is gone is no error to RabbitMQ, so the leaver's delete on the shared channel cannot
        // close the channel under its neighbours.
        var leaving = broker.UniqueQueueName(nameof(Leaving_AfterAnOperatorDeletedTheLock_LeavesTheNeighboursStreaming) + "l");
        var staying = broker.UniqueQueueName(nameof(Leaving_AfterAnOperatorDeletedTheLock_LeavesTheNeighboursStreaming) + "s");
        await using var gateway = await StartAsync(perChannel: 64);
        await using var neighbour = await gateway.SubscribeAsync($"/?id={staying}");
        Assert.Equal(HttpStatusCode.OK, neighbour.Status);
        await using (var leaver = await gateway.SubscribeAsync($"/?id={leaving}"))
        {
            Assert.Equal(HttpStatusCode.OK, leaver.Status);
            Assert.Equal(1, await ChannelsAsync(gateway));
            await broker.Rabbitmqctl.RunCheckedAsync(["delete_queue", QueueLock.NameFor(leaving)]);
            Assert.False(await LockExistsAsync(leaving));
        }

        await _amqp.UntilConsumersAsync(leaving, 0, Timeout, "the leaver's consumer is gone");
        await _amqp.PublishAsync(staying, "still here");
        Assert.Equal(["still here"], await neighbour.ReadEventsAsync(1, Timeout));
        Assert.Equal(1, await ChannelsAsync(gateway));
    }

    /// <summary>Every free channel reservation of a connection, taken until disposed: the gateway can open no channel on it.</summary>
    private sealed class EveryChannelTaken(Eventsourced.Broker.ConnectionSlot slot) : IDisposable
    {
        public int Count { get; private set; }

        public static EveryChannelTaken Of(Eventsourced.Broker.ConnectionSlot slot)
        {
            var taken = new EveryChannelTaken(slot);
            while (slot.TryReserve())
            {
                taken.Count++;
            }

            return taken;
        }

        public void Dispose()
        {
            for (; Count > 0; Count--)
            {
                slot.Release();
            }
        }
    }

    private Task<GatewayServer> StartAsync(int perChannel, Action<Eventsourced.Configuration.GatewayOptions>? configure = null) =>
        GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Broker.SubscribersPerChannel = perChannel;
            configure?.Invoke(o);
        });

    private static IReadOnlyList<Eventsourced.Broker.SharedChannel> SharedChannels(GatewayServer gateway) =>
        [.. gateway.Pool.Slots.SelectMany(s => s.SharedChannels)];

    /// <summary>The <c>eventsourced_broker_channels</c> gauge summed over nodes.</summary>
    private static async Task<int> ChannelsAsync(GatewayServer gateway)
    {
        var text = await gateway.Client.GetStringAsync("/metrics");
        return (int)text.Split('\n')
            .Where(l => l.StartsWith("eventsourced_broker_channels{", StringComparison.Ordinal))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>Whether the lock queue of <paramref name="queue"/> exists (a passive declare of another connection's exclusive queue would be refused).</summary>
    private async Task<bool> LockExistsAsync(string queue)
    {
        var rows = await broker.Rabbitmqctl.ListAsync("list_queues", ["name"]);
        return rows.Any(row => row.GetProperty("name").GetString() == QueueLock.NameFor(queue));
    }

    private async Task<long> UnacknowledgedAsync(string queue)
    {
        var rows = await broker.Rabbitmqctl.ListAsync("list_queues", ["name", "messages_unacknowledged"]);
        return rows.Where(row => row.GetProperty("name").GetString() == queue).Select(row => row.GetProperty("messages_unacknowledged").GetInt64()).FirstOrDefault(-1);
    }
}
