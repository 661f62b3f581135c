using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>The Go original's stress shape: 1,000 queues x 42 messages, every one delivered, in order.</summary>
[Collection(BrokerCollection.Name)]
[Trait("Category", "Stress")]
public sealed class StressTests(BrokerFixture broker)
{
    [Fact]
    public async Task ThousandQueues_FortyTwoMessagesEach_AllDeliveredInOrder()
    {
        const int Queues = 1_000;
        const int Messages = 42;
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(StressTests));
        var prefix = broker.UniqueQueueName("stress");
        var queues = Enumerable.Range(0, Queues).Select(i => $"{prefix}-{i}").ToArray();
        var clients = new SseClient[Queues];
        await Parallel.ForEachAsync(Enumerable.Range(0, Queues), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (i, ct) =>
            clients[i] = await gateway.SubscribeAsync($"/?id={queues[i]}", ct));
        try
        {
            Assert.All(clients, c => Assert.Equal(HttpStatusCode.OK, c.Status));
            for (var m = 0; m < Messages; m++)
            {
                for (var q = 0; q < Queues; q++)
                {
                    await amqp.PublishAsync(queues[q], $"{q}:{m}");
                }
            }

            await Parallel.ForEachAsync(Enumerable.Range(0, Queues), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (q, _) =>
            {
                var events = await clients[q].ReadEventsAsync(Messages, TimeSpan.FromSeconds(120));
                Assert.Equal(Enumerable.Range(0, Messages).Select(m => $"{q}:{m}"), events);
            });
        }
        finally
        {
            foreach (var c in clients)
            {
                await c.DisposeAsync();
            }

            await Parallel.ForEachAsync(queues, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (q, ct) => await amqp.DeleteQueueAsync(q, ct));
        }
    }
}
