using System.Net;
using Eventsourced.Consuming;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// The gateway's lock queues (<see cref="QueueLock"/>) on a quorum queue when something else holds the name: another
/// broker client that declared a queue of that name (it blocks the queue until deleted, so the log must say which
/// queue to delete), and a gateway whose locks are of the other kind (shared channels or not: busy, not an error).
/// </summary>
[Collection(BrokerLifecycleCollection.Name)]
public sealed class LockSquattingTests(BrokerFixture broker)
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task LockQueueDeclaredByAService_Is503_AndTheLogNamesTheQueueToDelete(int perChannel)
    {
        var queue = broker.UniqueQueueName($"{nameof(LockQueueDeclaredByAService_Is503_AndTheLogNamesTheQueueToDelete)}-{perChannel}");
        var lockName = QueueLock.NameFor(queue);
        await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(LockSquattingTests));
        await amqp.DeclareQueueAsync(lockName, durable: true);
        try
        {
            var log = new CollectedLog();
            await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => Quorum(o, perChannel), log);

            await using var refused = await gateway.SubscribeAsync($"/?id={queue}");

            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.Status);
            Assert.Equal("broker refused the subscription", refused.Response.Headers.GetValues("X-Status-Reason").Single());
            var entry = Assert.Single(log.Entries, e => e.EventId == 306);
            Assert.Contains($"lock queue '{lockName}' was declared by a broker client other than the gateway", entry.Message, StringComparison.Ordinal);
            Assert.Contains("delete that queue", entry.Message, StringComparison.Ordinal);

            // Deleted as the log says: the queue is the subscriber's again.
            await amqp.DeleteQueueAsync(lockName);
            await using var served = await gateway.SubscribeAsync($"/?id={queue}");
            Assert.Equal(HttpStatusCode.OK, served.Status);
        }
        finally
        {
            await amqp.DeleteQueueAsync(lockName);
            await amqp.DeleteQueueAsync(queue);
        }
    }

    [Theory]
    [InlineData(2, 1)]
    [InlineData(1, 2)]
    public async Task QueueHeldByAGatewayWithTheOtherKindOfLock_IsBusy(int holderPerChannel, int otherPerChannel)
    {
        var queue = broker.UniqueQueueName($"{nameof(QueueHeldByAGatewayWithTheOtherKindOfLock_IsBusy)}-{holderPerChannel}");
        await using var holder = await GatewayServer.StartAsync(broker.AmqpUrl, o => Quorum(o, holderPerChannel));
        await using var other = await GatewayServer.StartAsync(broker.AmqpUrl, o => Quorum(o, otherPerChannel));
        await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(LockSquattingTests));
        try
        {
            await using var held = await holder.SubscribeAsync($"/?id={queue}");
            Assert.Equal(HttpStatusCode.OK, held.Status);

            await using var second = await other.SubscribeAsync($"/?id={queue}");

            Assert.Equal(HttpStatusCode.ServiceUnavailable, second.Status);
            Assert.Equal("queue is already being consumed by another subscriber", second.Response.Headers.GetValues("X-Status-Reason").Single());
        }
        finally
        {
            await amqp.DeleteQueueAsync(queue);
        }
    }

    private static void Quorum(Eventsourced.Configuration.GatewayOptions options, int perChannel)
    {
        QuorumQueueTests.Quorum(options);
        options.Broker.SubscribersPerChannel = perChannel;
    }
}
