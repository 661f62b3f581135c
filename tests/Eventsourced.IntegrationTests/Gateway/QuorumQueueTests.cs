using System.Net;
using Eventsourced.Consuming;
using Eventsourced.IntegrationTests.Infrastructure;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// <c>queue.type: quorum</c> on a real broker: the queues are quorum queues, one subscriber per queue still holds
/// across gateway instances (a quorum queue alone would let several "exclusive" consumers in), expiry and the
/// delivery guarantees still hold, and a redelivered message carries the quorum queue's delivery count.
/// </summary>
[Collection(BrokerLifecycleCollection.Name)]
public sealed class QuorumQueueTests(BrokerFixture broker)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task QuorumQueue_WithoutALock_LetsTwoExclusiveConsumersIn()
    {
        // Why the gateway needs its lock: the broker itself does not arbitrate quorum queues.
        var queue = broker.UniqueQueueName(nameof(QuorumQueue_WithoutALock_LetsTwoExclusiveConsumersIn));
        await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(QuorumQueueTests));
        await amqp.DeclareQueueAsync(queue, durable: true, arguments: new Dictionary<string, object?> { ["x-queue-type"] = "quorum" });
        await using var first = await amqp.Connection.CreateChannelAsync();
        await using var second = await amqp.Connection.CreateChannelAsync();
        await first.BasicConsumeAsync(queue, autoAck: false, "", noLocal: false, exclusive: true, null, new AsyncEventingBasicConsumer(first));
        await second.BasicConsumeAsync(queue, autoAck: false, "", noLocal: false, exclusive: true, null, new AsyncEventingBasicConsumer(second));

        Assert.Equal(2u, await amqp.ConsumerCountAsync(queue));
        await amqp.DeleteQueueAsync(queue);
    }

    [Fact]
    public async Task SimultaneousSubscribers_OverTwoGateways_ExactlyOneGets200()
    {
        var queue = broker.UniqueQueueName(nameof(SimultaneousSubscribers_OverTwoGateways_ExactlyOneGets200));
        await using var one = await GatewayServer.StartAsync(broker.AmqpUrl, Quorum);
        await using var two = await GatewayServer.StartAsync(broker.AmqpUrl, Quorum);
        // On a loaded machine a gateway's first connection attempt may fail; these subscribers need both up.
        await Wait.UntilAsync(() => one.Pool.ConnectionsUp == 1 && two.Pool.ConnectionsUp == 1, Patience, "both gateways connected");
        using var start = new ManualResetEventSlim();
        var attempts = Enumerable.Range(0, 20).Select(i => Task.Run(async () =>
        {
            start.Wait();
            return await (i % 2 == 0 ? one : two).SubscribeAsync($"/?id={queue}");
        })).ToArray();
        start.Set();
        var clients = await Task.WhenAll(attempts);
        try
        {
            Assert.Single(clients, c => c.Status == HttpStatusCode.OK);
            Assert.All(clients.Where(c => c.Status != HttpStatusCode.OK), c =>
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, c.Status);
                Assert.Equal("queue is already being consumed by another subscriber", c.Response.Headers.GetValues("X-Status-Reason").Single());
            });

            // The broker agrees: a quorum queue with one consumer, and one lock queue held.
            var rows = await broker.Rabbitmqctl.ListAsync("list_queues", ["name", "type", "exclusive"]);
            var row = Assert.Single(rows, r => r.GetProperty("name").GetString() == queue);
            Assert.Equal("quorum", row.GetProperty("type").GetString());
            await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(QuorumQueueTests));
            Assert.Equal(1u, await amqp.ConsumerCountAsync(queue));
            var lockRow = Assert.Single(rows, r => r.GetProperty("name").GetString() == QueueLock.NameFor(queue));
            Assert.Equal("classic", lockRow.GetProperty("type").GetString());
            Assert.True(lockRow.GetProperty("exclusive").GetBoolean());
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }

        // The winner left: its lock went with its channel, and the queue is free for anyone, on either gateway.
        await Wait.UntilAsync(async () => await broker.Rabbitmqctl.FindQueueAsync(QueueLock.NameFor(queue)) is null, Patience, "lock queue dropped");
        await using var again = await two.SubscribeAsync($"/?id={queue}");
        Assert.Equal(HttpStatusCode.OK, again.Status);
    }

    [Fact]
    public async Task NewQuorumQueues_RacedByManySubscribers_NeverCostTheGatewaysTheirConnections()
    {
        // Subscribers racing to declare and consume a new quorum queue made the broker (3.10) close the whole
        // connection ({badmatch,{error,noproc}} in rabbit_quorum_queue:consume), taking every stream on it.
        await using var one = await GatewayServer.StartAsync(broker.AmqpUrl, Quorum);
        await using var two = await GatewayServer.StartAsync(broker.AmqpUrl, Quorum);
        await Wait.UntilAsync(() => one.Pool.ConnectionsUp == 1 && two.Pool.ConnectionsUp == 1, Patience, "both gateways connected");
        var node = new Uri(broker.AmqpUrl).Authority;
        for (var round = 0; round < 6; round++)
        {
            var queue = broker.UniqueQueueName($"{nameof(NewQuorumQueues_RacedByManySubscribers_NeverCostTheGatewaysTheirConnections)}-{round}");
            var clients = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => (i % 2 == 0 ? one : two).SubscribeAsync($"/?id={queue}")));
            try
            {
                Assert.Single(clients, c => c.Status == HttpStatusCode.OK);
            }
            finally
            {
                foreach (var client in clients)
                {
                    await client.DisposeAsync();
                }
            }
        }

        foreach (var gateway in new[] { one, two })
        {
            var scrape = await Observability.Exposition.ScrapeAsync(gateway.Client);
            Assert.Equal(0, scrape.Value("eventsourced_broker_reconnects_total", ("node", node)));
        }
    }

    [Fact]
    public async Task ConnectionHoldingTheLockDies_TheLockGoesWithIt_AndAnotherGatewayStreamsWithinSeconds()
    {
        var queue = broker.UniqueQueueName(nameof(ConnectionHoldingTheLockDies_TheLockGoesWithIt_AndAnotherGatewayStreamsWithinSeconds));
        await using var one = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            Quorum(o);
            o.Broker.ReconnectMaxSeconds = 1;
        });
        await using var two = await GatewayServer.StartAsync(broker.AmqpUrl, Quorum);
        await Wait.UntilAsync(() => one.Pool.ConnectionsUp == 1 && two.Pool.ConnectionsUp == 1, Patience, "both gateways connected");
        await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(QuorumQueueTests));
        await using var holder = await one.SubscribeAsync($"/?id={queue}");
        Assert.Equal(HttpStatusCode.OK, holder.Status);
        await using (var refused = await two.SubscribeAsync($"/?id={queue}"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.Status);
        }

        // The broker drops gateway one's connection (as when its node dies under it).
        // (close_connection takes the pid as the plain listing prints it, <node.N.N.N>, not as JSON does.)
        var listing = await broker.Rabbitmqctl.RunCheckedAsync(["list_connections", "pid", "client_properties"]);
        var held = Assert.Single(listing.Split('\n'), line => line.Contains(one.Pool.ConnectionNamePrefix + " #", StringComparison.Ordinal));
        await broker.Rabbitmqctl.RunCheckedAsync(["close_connection", held.Split('\t')[0].Trim(), "test: connection lost"]);
        var lost = System.Diagnostics.Stopwatch.StartNew();
        await holder.WaitForEndAsync(Patience);
        Assert.EndsWith(": stream ended: broker connection lost\n\n", holder.RawText, StringComparison.Ordinal);

        // The client reconnects through the other gateway and streams again, with what was published meanwhile.
        await amqp.PublishAsync(queue, "while reconnecting");
        await using var again = await two.SubscribeAsync($"/?id={queue}");
        Assert.Equal(HttpStatusCode.OK, again.Status);
        Assert.Equal(["while reconnecting"], await again.ReadEventsAsync(1, Patience));
        Assert.True(lost.Elapsed < TimeSpan.FromSeconds(5), $"streaming again {lost.Elapsed} after the connection was lost");
    }

    [Fact]
    public async Task QuorumQueue_StreamsInOrder_AndExpiresOnlyAfterItsSubscriberLeft()
    {
        var queue = broker.UniqueQueueName(nameof(QuorumQueue_StreamsInOrder_AndExpiresOnlyAfterItsSubscriberLeft));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            Quorum(o);
            o.Queue.ExpiresSeconds = 2;
        });
        await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(QuorumQueueTests));
        await using (var client = await gateway.SubscribeAsync($"/?id={queue}"))
        {
            Assert.Equal(HttpStatusCode.OK, client.Status);
            for (var i = 0; i < 20; i++)
            {
                await amqp.PublishAsync(queue, $"m{i}");
            }

            Assert.Equal(Enumerable.Range(0, 20).Select(i => $"m{i}"), await client.ReadEventsAsync(20, Patience));

            // Twice the expiry with a subscriber: the queue stays.
            await Task.Delay(TimeSpan.FromSeconds(4));
            Assert.NotNull(await broker.Rabbitmqctl.FindQueueAsync(queue));
        }

        await Wait.UntilAsync(async () => await broker.Rabbitmqctl.FindQueueAsync(queue) is null, Patience, "quorum queue expired after its subscriber left", TimeSpan.FromMilliseconds(500));
    }

    [Fact]
    public async Task StreamCutOff_RequeuesInOrder_AndTheRedeliveryCarriesTheDeliveryCount()
    {
        const int Messages = 120;
        var queue = broker.UniqueQueueName(nameof(StreamCutOff_RequeuesInOrder_AndTheRedeliveryCarriesTheDeliveryCount));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            Quorum(o);
            o.Server.WriteTimeoutSeconds = 2;
            o.Queue.Prefetch = 8;
        });
        await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(QuorumQueueTests));

        // A client that never reads: the gateway cuts it off after the write timeout, with deliveries unacknowledged.
        await using (var stalled = await gateway.SubscribeAsync($"/?id={queue}"))
        {
            Assert.Equal(HttpStatusCode.OK, stalled.Status);
            var body = new string('x', 64 * 1024);
            for (var i = 0; i < Messages; i++)
            {
                await amqp.PublishAsync(queue, $"{i:D5}{body}");
            }

            await Wait.UntilAsync(() => gateway.Pool.Slots.Sum(s => s.Leases) == 0, Patience, "stalled stream ended");
        }

        // The remaining messages come back in order; the first of them was delivered before, and a quorum queue
        // counts that in the x-delivery-count header (classic queues only set the redelivered flag).
        await Wait.UntilAsync(async () => await broker.Rabbitmqctl.FindQueueAsync(queue) is { Consumers: 0 }, Patience, "consumer released");
        var first = await amqp.GetAsync(queue);
        Assert.NotNull(first);
        Assert.True(first.Redelivered);
        Assert.True(first.Properties.Headers?.ContainsKey("x-delivery-count"), "no x-delivery-count header on a redelivered quorum message");
        var firstIndex = int.Parse(first.Text[..5], System.Globalization.CultureInfo.InvariantCulture);

        await using var reader = await gateway.SubscribeAsync($"/?id={queue}");
        var rest = await reader.ReadEventsAsync(Messages - firstIndex - 1, TimeSpan.FromSeconds(60));
        Assert.Equal(Enumerable.Range(firstIndex + 1, Messages - firstIndex - 1).Select(i => $"{i:D5}"), rest.Select(e => e[..5]));
    }

    /// <summary>Quorum queues with a short busy grace and expiry, as these tests and <see cref="LockSquattingTests"/> use them.</summary>
    internal static void Quorum(Eventsourced.Configuration.GatewayOptions options)
    {
        options.Queue.Type = "quorum";
        options.Queue.BusyGraceSeconds = 1;
        options.Queue.ExpiresSeconds = 60; // the shared broker keeps no quorum queue of ours for long
    }
}
