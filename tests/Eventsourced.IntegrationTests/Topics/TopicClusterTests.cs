using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;
using Eventsourced.Testing.Clusters;

namespace Eventsourced.IntegrationTests.Topics;

/// <summary>
/// Topics on a three-node cluster whose stream has a replica on one node only (as on a node that joined after the
/// stream was declared, or five nodes with three replicas, or a node just restarted): RabbitMQ refuses a stream's
/// consume through a node without a replica (406 "does not have a replica on the local node"), so the gateway reads
/// the stream through a connection to another node instead of answering 503.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class TopicClusterTests(RabbitClusterFixture fixture) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private RabbitCluster Cluster => fixture.Cluster;

    public Task InitializeAsync() => fixture.EnsureHealthyAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task StreamWithoutAReplicaOnTheLeastLoadedNode_IsReadThroughANodeThatHasOne_LiveAndFromTheStart()
    {
        var topic = $"one-replica-{Guid.NewGuid():N}"[..24];
        var stream = "topic." + topic;
        await using var amqp = await AmqpTestClient.ConnectAsync(Cluster.Nodes[0].AmqpUrl, nameof(TopicClusterTests));
        await amqp.DeclareQueueAsync(stream, durable: true, arguments: new Dictionary<string, object?>
        {
            ["x-queue-type"] = "stream",
            ["x-initial-cluster-size"] = 1,
        });
        try
        {
            Assert.Equal([Cluster.Nodes[0].NodeName], await Cluster.Nodes[0].Rabbitmqctl.QueueMembersAsync(stream));
            await amqp.PublishAsync(stream, "before");
            // The nodes without a replica first: with no channel leased yet, the first connection is the least loaded.
            await using var gateway = await GatewayServer.StartAsync(Cluster.AmqpUrls[0], o =>
                o.Broker.Node = [Cluster.AmqpUrls[1], Cluster.AmqpUrls[2], Cluster.AmqpUrls[0]]);
            await Wait.UntilAsync(() => Task.FromResult(gateway.Pool.ConnectionsUp == 3), Patience, "a connection to every node");

            await using var live = await gateway.SubscribeAsync($"/topics/{topic}");
            Assert.True(live.Status == HttpStatusCode.OK, $"{(int)live.Status} {live.Reason}");
            // A reader from the start: a catch-up consumer of its own, leased on the least loaded connection again.
            await using var history = await gateway.SubscribeAsync($"/topics/{topic}?lastEventId=earliest");
            Assert.True(history.Status == HttpStatusCode.OK, $"{(int)history.Status} {history.Reason}");

            await amqp.PublishAsync(stream, "after");
            Assert.Equal(["after"], await live.ReadEventsAsync(1, Patience));
            Assert.Equal(["before", "after"], await history.ReadEventsAsync(2, Patience));
        }
        finally
        {
            await amqp.DeleteQueueAsync(stream);
        }
    }
}
