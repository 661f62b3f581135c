using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

[Collection(BrokerLoadCollection.Name)]
public sealed class ScaleTests(BrokerFixture broker)
{
    private const int Subscribers = 5_000;

    [Fact]
    public async Task FiveThousandSubscribers_ThroughOneBrokerUrl_AllStreamAndAllReceive()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(ScaleTests));
        var prefix = broker.UniqueQueueName("scale");
        var queues = Enumerable.Range(0, Subscribers).Select(i => $"{prefix}-{i}").ToArray();
        var clients = new SseClient[Subscribers];
        try
        {
            // Open in waves so the listen backlog is not the thing under test.
            await Parallel.ForEachAsync(Enumerable.Range(0, Subscribers), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (i, ct) =>
                clients[i] = await gateway.SubscribeAsync($"/?id={queues[i]}", ct));

            var refused = clients.Where(c => c.Status != HttpStatusCode.OK).ToList();
            Assert.True(refused.Count == 0, $"{refused.Count} refused, first: {refused.FirstOrDefault()?.Response.Headers.GetValues("X-Status-Reason").FirstOrDefault()}");

            // One URL configured; the pool opened more connections to it past channel_max (2047).
            var slots = gateway.Pool.Slots;
            Assert.True(slots.Count >= 3, $"expected at least 3 connections, got {slots.Count}");
            Assert.All(slots, s => Assert.Equal(slots[0].Url.Endpoint, s.Url.Endpoint));
            Assert.All(slots, s => Assert.True(s.Leases <= s.Capacity));
            Assert.Equal(Subscribers, slots.Sum(s => s.Leases));

            for (var i = 0; i < Subscribers; i++)
            {
                await amqp.PublishAsync(queues[i], $"hello {i}");
            }

            await Parallel.ForEachAsync(Enumerable.Range(0, Subscribers), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (i, _) =>
                Assert.Equal([$"hello {i}"], await clients[i].ReadEventsAsync(1, TimeSpan.FromSeconds(60))));
        }
        finally
        {
            foreach (var c in clients.Where(c => c is not null))
            {
                await c.DisposeAsync();
            }

            await Wait.UntilAsync(() => Task.FromResult(gateway.Pool.Slots.Sum(s => s.Leases) == 0), TimeSpan.FromSeconds(60), "all leases released");
            await Parallel.ForEachAsync(queues, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (q, ct) => await amqp.DeleteQueueAsync(q, ct));
        }
    }
}
