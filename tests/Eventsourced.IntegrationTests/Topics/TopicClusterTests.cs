using System.Diagnostics;
using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;
using Eventsourced.Testing.Clusters;
using Xunit.Abstractions;

namespace Eventsourced.IntegrationTests.Topics;

/// <summary>
/// Topics on a three-node cluster whose stream has a replica on one node only (as on a node that joined after the
/// stream was declared, or five nodes with three replicas, or a node just restarted): RabbitMQ refuses a stream's
/// consume through a node without a replica (406 "does not have a replica on the local node"), so the gateway reads
/// the stream through a connection to another node instead of answering 503.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class TopicClusterTests(RabbitClusterFixture fixture, ITestOutputHelper output) : IAsyncLifetime
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

    /// <summary>
    /// While a stream's leader fails over (its node killed), RabbitMQ refuses consumes of the stream for a moment on every
    /// node: <c>406 ... does not have a replica on the local node</c> for a feed, <c>404 ... is down</c> for a reader from
    /// an offset. Each subscriber here opens a new feed (no linger) and half of them a catch-up reader; none may get a
    /// 503 (a browser's EventSource closes for good on one), the gateway waits the moment out.
    /// </summary>
    [Fact]
    public async Task StreamLeaderKilled_SubscribersOpeningFeedsAndReadersMeanwhile_AreServedNotRefused()
    {
        var topic = $"failover-{Guid.NewGuid():N}"[..24];
        var stream = "topic." + topic;
        await using (var amqp = await AmqpTestClient.ConnectAsync(Cluster.Nodes[0].AmqpUrl, nameof(TopicClusterTests)))
        {
            await amqp.DeclareQueueAsync(stream, durable: true, arguments: new Dictionary<string, object?>
            {
                ["x-queue-type"] = "stream",
                ["x-initial-cluster-size"] = 3,
            });
            for (var i = 0; i < 5; i++)
            {
                await amqp.PublishAsync(stream, $"event {i}");
            }
        }

        try
        {

            var leaderName = await Cluster.Nodes[0].Rabbitmqctl.QueueLeaderAsync(stream);
            var leader = Cluster.Nodes.Single(node => node.NodeName == leaderName);
            await using var gateway = await GatewayServer.StartAsync(Cluster.AmqpUrls[0], o =>
            {
                o.Broker.Node = [.. Cluster.AmqpUrls];
                o.Topics.LingerSeconds = 0;
            });
            await Wait.UntilAsync(() => Task.FromResult(gateway.Pool.ConnectionsUp == 3), Patience, "a connection to every node");

            var refusals = new System.Collections.Concurrent.ConcurrentQueue<string>();
            var served = 0;
            var clock = Stopwatch.StartNew();
            using var done = new CancellationTokenSource();
            async Task SubscribeAgainAndAgainAsync(int loop)
            {
                for (var i = loop; !done.IsCancellationRequested; i++)
                {
                    // Every other one resumes after the first event: a catch-up reader from offset 1 (a new feed has no memory).
                    var path = i % 2 == 0 ? $"/topics/{topic}" : $"/topics/{topic}?lastEventId=0";
                    await using var subscriber = await gateway.SubscribeAsync(path);
                    if (subscriber.Status == HttpStatusCode.OK)
                    {
                        Interlocked.Increment(ref served);
                    }
                    else
                    {
                        refusals.Enqueue($"{clock.Elapsed.TotalSeconds:F2} s {path}: {(int)subscriber.Status} {subscriber.Reason}");
                    }
                }
            }

            var loops = Enumerable.Range(0, 4).Select(SubscribeAgainAndAgainAsync).ToList();
            await Task.Delay(TimeSpan.FromSeconds(1));
            var killedAt = clock.Elapsed;
            await leader.KillAsync();
            await Task.Delay(TimeSpan.FromSeconds(6));
            var restartedAt = clock.Elapsed;
            await leader.StartAsync();
            var backAt = clock.Elapsed;
            await Task.Delay(TimeSpan.FromSeconds(6));
            await done.CancelAsync();
            await Task.WhenAll(loops);
            output.WriteLine($"leader {leaderName} killed at {killedAt.TotalSeconds:F2} s, restarted at {restartedAt.TotalSeconds:F2} s, back at {backAt.TotalSeconds:F2} s; {served} served");

            Assert.True(refusals.Count == 0, $"{refusals.Count} refused, {served} served:\n{string.Join("\n", refusals)}");
        }
        finally
        {
            await fixture.EnsureHealthyAsync();
            await using var amqp = await AmqpTestClient.ConnectAsync(Cluster.Nodes[0].AmqpUrl, nameof(TopicClusterTests));
            await amqp.DeleteQueueAsync(stream);
        }
    }
}
