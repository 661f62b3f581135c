using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Eventsourced.Consuming;
using Eventsourced.IntegrationTests.Infrastructure;
using Eventsourced.Testing;
using Eventsourced.Testing.Brokers;
using Eventsourced.Testing.Clusters;
using Eventsourced.Testing.Gateways;
using Xunit.Abstractions;

namespace Eventsourced.IntegrationTests.Drills;

/// <summary>
/// Fault drills on a real three-node RabbitMQ cluster: subscribers that behave like pages (reconnecting when a
/// stream ends or is refused) and a publisher that behaves as the README says (confirms, mandatory, publish
/// again what was not confirmed), under load, while a node is killed, restarted or frozen, the whole cluster
/// restarts, or the gateway is killed. Each drill counts the messages confirmed to the publisher against those
/// delivered to the subscribers (nothing confirmed may be lost), measures how long subscribers went without a
/// stream, and checks that nothing is left over afterwards (streams, channels, consumers, lock queues), as the
/// gateway's <c>/debug/vars</c> and the broker see it. Each drill adds a row to <c>out/drills/results.md</c>.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterDrillTests(RabbitClusterFixture fixture, ITestOutputHelper output) : IAsyncLifetime
{
    private const int Subscribers = 24;
    private const int MessagesPerSecond = 48;
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(90);

    private RabbitCluster Cluster => fixture.Cluster;

    public Task InitializeAsync() => fixture.EnsureHealthyAsync();

    public Task DisposeAsync() => fixture.EnsureHealthyAsync();

    [Fact]
    public async Task Quorum_NodeKilledUnderLoad_NobodyRefusedLongerThanTheReconnect_NothingConfirmedLost()
    {
        var result = await RunAsync("kill -9 of one node, back after 10 s", "quorum", async () =>
        {
            await Cluster.Nodes[1].KillAsync();
            await Task.Delay(TimeSpan.FromSeconds(10));
            await Cluster.Nodes[1].StartAsync();
            await Cluster.WaitUntilRunningAsync();
        });

        Assert.Equal(0, result.Lost);
        Assert.True(result.LongestRefused < TimeSpan.FromSeconds(10), $"a subscriber was refused for {result.LongestRefused}");
        Assert.True(result.LongestAway < TimeSpan.FromSeconds(15), $"a subscriber went {result.LongestAway} without a stream");
    }

    [Fact]
    public async Task Classic_NodeKilledUnderLoad_ItsQueuesAreRefusedUntilItIsBack_NothingConfirmedLost()
    {
        var result = await RunAsync("kill -9 of one node, back after 10 s", "classic", async () =>
        {
            await Cluster.Nodes[1].KillAsync();
            await Task.Delay(TimeSpan.FromSeconds(10));
            await Cluster.Nodes[1].StartAsync();
            await Cluster.WaitUntilRunningAsync();
        });

        // What the README promises for classic queues: the queues of the lost node are unavailable while it is
        // down (refused, publishes returned), and nothing confirmed is lost.
        Assert.Equal(0, result.Lost);
    }

    [Fact]
    public async Task Quorum_NodeRestarted_NothingConfirmedLost()
    {
        var result = await RunAsync("one node restarted (rabbitmqctl stop, start)", "quorum", async () =>
        {
            await Cluster.Nodes[2].RestartAsync();
            await Cluster.WaitUntilRunningAsync();
        });

        Assert.Equal(0, result.Lost);
        Assert.True(result.LongestRefused < TimeSpan.FromSeconds(10), $"a subscriber was refused for {result.LongestRefused}");
    }

    /// <summary>
    /// How operators upgrade a cluster: each node in turn restarted, the next one once the cluster runs whole again (and
    /// the gateway has had a few seconds to reconnect). The streams on each node's connections end and reconnect
    /// through the others, every time.
    /// </summary>
    [Fact]
    public async Task Quorum_RollingRestart_EachNodeInTurn_NothingConfirmedLost()
    {
        var result = await RunAsync("rolling restart (each node in turn: rabbitmqctl stop, start)", "quorum", async () =>
        {
            foreach (var node in Cluster.Nodes)
            {
                await node.RestartAsync();
                await Cluster.WaitUntilRunningAsync();
                await Task.Delay(TimeSpan.FromSeconds(5));
            }
        });

        Assert.Equal(0, result.Lost);
        Assert.True(result.LongestRefused < TimeSpan.FromSeconds(10), $"a subscriber was refused for {result.LongestRefused}");
        Assert.True(result.LongestAway < TimeSpan.FromSeconds(15), $"a subscriber went {result.LongestAway} without a stream");
    }

    [Fact]
    public async Task Quorum_WholeClusterRestarted_EveryoneStreamsAgain_NothingConfirmedLost()
    {
        var result = await RunAsync("whole cluster restarted", "quorum", () => Cluster.RestartAsync());

        Assert.Equal(0, result.Lost);
    }

    [Fact]
    public async Task Quorum_NodeFrozen30s_NoticedByHeartbeats_NothingConfirmedLost()
    {
        var result = await RunAsync("one node frozen (SIGSTOP) for 30 s", "quorum", async () =>
        {
            await Cluster.Nodes[1].PauseAsync();
            await Task.Delay(TimeSpan.FromSeconds(30));
            await Cluster.Nodes[1].ResumeAsync();
            await Cluster.WaitUntilRunningAsync();
        },
        expectNoticed: TimeSpan.FromSeconds(10));

        Assert.Equal(0, result.Lost);
    }

    [Fact]
    public async Task Quorum_GatewayKilledAndRestarted_NothingConfirmedLost()
    {
        var port = FreePort.Next();
        var environment = new Dictionary<string, string>
        {
            ["EVENTSOURCED_SERVER__ADDRESS"] = $"127.0.0.1:{port}",
            ["EVENTSOURCED_QUEUE__TYPE"] = "quorum",
            ["EVENTSOURCED_BROKER__HEARTBEAT"] = "1",
            ["EVENTSOURCED_BROKER__RECONNECT_MAX"] = "2",
            ["EVENTSOURCED_LOG__LEVEL"] = "warning",
        };
        for (var i = 0; i < Cluster.AmqpUrls.Count; i++)
        {
            environment[$"EVENTSOURCED_BROKER__NODE__{i}"] = Cluster.AmqpUrls[i];
        }

        var process = GatewayProcess.Start(environment);
        using var client = GatewayServer.NewClient(new Uri($"http://127.0.0.1:{port}/"));
        try
        {
            await Wait.UntilAsync(async () => await process.IsListeningAsync(client), TimeSpan.FromSeconds(60), "gateway process listening");
            var result = await RunAsync("gateway killed (SIGKILL) and restarted", "quorum", async () =>
            {
                process.Signal("KILL");
                await process.WaitForExitAsync(TimeSpan.FromSeconds(15));
                await process.DisposeAsync();
                process = GatewayProcess.Start(environment);
                await Wait.UntilAsync(async () => await process.IsListeningAsync(client), TimeSpan.FromSeconds(60), "gateway process listening again");
            },
            external: client);

            Assert.Equal(0, result.Lost);
        }
        finally
        {
            process.Signal("TERM");
            await process.WaitForExitAsync(TimeSpan.FromSeconds(30));
            await process.DisposeAsync();
        }
    }

    /// <summary>
    /// Runs one drill: a gateway on every node of the cluster (or <paramref name="external"/>), subscribers and a
    /// publisher under load, <paramref name="disturb"/>, recovery, and the accounts.
    /// </summary>
    private async Task<DrillResult> RunAsync(
        string drill, string queueType, Func<Task> disturb, TimeSpan? expectNoticed = null, HttpClient? external = null)
    {
        var name = $"drill-{queueType}-{Guid.NewGuid():N}"[..24];
        var queues = Enumerable.Range(0, Subscribers).Select(i => $"{name}-{i:D2}").ToArray();
        await using var gateway = external is null
            ? await GatewayServer.StartAsync(Cluster.AmqpUrls[0], o =>
            {
                o.Broker.Node = [.. Cluster.AmqpUrls];
                o.Broker.HeartbeatSeconds = 1;
                o.Broker.ReconnectMaxSeconds = 2;
                o.Queue.Type = queueType;
            })
            : null;
        var http = external ?? gateway!.Client;
        var clients = queues.Select(q => new DrillClient(q, () => http)).ToArray();
        var publisher = new DrillPublisher(Cluster.AmqpUrls, queues);
        using var stopClients = new CancellationTokenSource();
        using var stopPublisher = new CancellationTokenSource();
        var running = clients.Select(c => c.RunAsync(stopClients.Token)).ToList();
        var publishing = Task.CompletedTask;
        var stopwatch = Stopwatch.StartNew();
        try
        {
            await Wait.UntilAsync(() => clients.All(c => c.IsStreaming), Settle, "every subscriber streaming");
            publishing = publisher.RunAsync(MessagesPerSecond, stopPublisher.Token);
            await Task.Delay(TimeSpan.FromSeconds(3));

            var disturbed = Stopwatch.StartNew();
            var disturbing = disturb();
            if (expectNoticed is { } noticed)
            {
                // The node's streams end through the heartbeats, well before the node comes back.
                await Wait.UntilAsync(() => clients.Count(c => c.IsStreaming) < Subscribers, noticed, "streams on the frozen node ended");
                output.WriteLine($"{drill}: first stream ended {disturbed.Elapsed.TotalSeconds:F1} s after the freeze");
            }

            await disturbing;
            var outage = disturbed.Elapsed;
            await Wait.UntilAsync(() => clients.All(c => c.IsStreaming), Settle, "every subscriber streaming again");
            var recovered = disturbed.Elapsed;
            await Task.Delay(TimeSpan.FromSeconds(3));
            await stopPublisher.CancelAsync();
            await publishing;

            // Every confirmed message reaches its subscriber.
            var confirmed = publisher.Confirmed;
            await Wait.UntilAsync(() => MissingCount(clients, confirmed) == 0, Settle, "every confirmed message delivered", TimeSpan.FromMilliseconds(500));
            await stopClients.CancelAsync();
            await Task.WhenAll(running);

            var result = new DrillResult(
                drill, queueType, Subscribers, publisher.ConfirmedTotal, clients.Sum(c => (long)c.Received.Count),
                MissingCount(clients, confirmed), clients.Sum(c => c.Duplicates), clients.Sum(c => c.Refusals),
                clients.Max(c => c.LongestRefused), clients.Max(c => c.LongestAway), publisher.Returned, publisher.Failed,
                outage, recovered, clients.Select(c => c.LastEnding).Where(e => e.Length > 0).Distinct().ToArray());
            Report(result);
            if (gateway is not null)
            {
                await AssertNothingLeftOverAsync(gateway, queues);
            }
            else
            {
                await AssertNothingLeftOverAsync(http, queues);
            }

            return result;
        }
        catch (TimeoutException ex)
        {
            var missing = MissingCount(clients, publisher.Confirmed);
            throw new TimeoutException(
                $"{drill} ({queueType}) after {stopwatch.Elapsed}: {ex.Message}; streaming {clients.Count(c => c.IsStreaming)}/{Subscribers}, "
                + $"confirmed {publisher.ConfirmedTotal}, missing {missing}, refusals {clients.Sum(c => c.Refusals)}, endings: "
                + string.Join(" | ", clients.Select(c => c.LastEnding).Distinct()), ex);
        }
        finally
        {
            await stopPublisher.CancelAsync();
            await stopClients.CancelAsync();
            await Task.WhenAll(running.Append(publishing));
            await DeleteQueuesAsync(queues);
        }
    }

    private static long MissingCount(IEnumerable<DrillClient> clients, IReadOnlyList<long> confirmed) =>
        clients.Select((c, i) => (Client: c, Confirmed: confirmed[i]))
            .Sum(x =>
            {
                var received = x.Client.Received.ToHashSet();
                return Enumerable.Range(0, (int)x.Confirmed).LongCount(seq => !received.Contains(seq));
            });

    /// <summary>No stream, channel, consumer or lock left, by the gateway's account and the broker's.</summary>
    private async Task AssertNothingLeftOverAsync(GatewayServer gateway, string[] queues)
    {
        await Wait.UntilAsync(() => gateway.Pool.Slots.Sum(s => s.Leases) == 0, Settle, "the gateway's channel leases all returned");
        await Wait.UntilAsync(() => gateway.Pool.ConnectionsUp == Cluster.Nodes.Count, Settle, "a connection to every node");
        var prefix = gateway.Pool.ConnectionNamePrefix + " #";
        await Wait.UntilAsync(async () => await Cluster.Nodes[0].Rabbitmqctl.ChannelCountAsync(prefix) == 0, Settle, "no channel of the gateway's on the broker");
        Assert.Equal(Cluster.Nodes.Count, await Cluster.Nodes[0].Rabbitmqctl.ConnectionCountAsync(prefix));
        await AssertBrokerQuietAsync(gateway.Client, queues);
    }

    private async Task AssertNothingLeftOverAsync(HttpClient gateway, string[] queues) => await AssertBrokerQuietAsync(gateway, queues);

    private async Task AssertBrokerQuietAsync(HttpClient gateway, string[] queues)
    {
        await Wait.UntilAsync(
            async () =>
            {
                using var vars = JsonDocument.Parse(await gateway.GetStringAsync("/debug/vars"));
                return vars.RootElement.GetProperty("streams").GetInt64() == 0 && vars.RootElement.GetProperty("consumers").GetInt64() == 0;
            },
            Settle, "/debug/vars: no stream, no consumer");
        var locks = queues.Select(QueueLock.NameFor).ToHashSet(StringComparer.Ordinal);
        await Wait.UntilAsync(
            async () =>
            {
                var rows = await Cluster.Nodes[0].Rabbitmqctl.ListQueuesAsync();
                return !rows.Any(r => locks.Contains(r.Name)) && rows.Where(r => queues.Contains(r.Name)).All(r => r.Consumers == 0);
            },
            Settle, "the broker: no lock queue left, no consumer on the drill's queues");
    }

    private async Task DeleteQueuesAsync(string[] queues)
    {
        try
        {
            await using var amqp = await AmqpTestClient.ConnectAsync(Cluster.Nodes[0].AmqpUrl, "drill cleanup");
            foreach (var queue in queues)
            {
                await amqp.DeleteQueueAsync(queue);
            }
        }
        catch (Exception ex) when (ex is TimeoutException or IOException or RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            output.WriteLine($"cleanup: {ex.Message}");
        }
    }

    private void Report(DrillResult result)
    {
        output.WriteLine(result.ToString());
        var directory = Path.Combine(RepoRoot(), "out", "drills");
        Directory.CreateDirectory(directory);
        File.AppendAllText(Path.Combine(directory, "results.md"), result.Row + "\n");
    }

    private static string RepoRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "eventsourced.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? AppContext.BaseDirectory;
    }
}

/// <summary>What one drill measured.</summary>
public sealed record DrillResult(
    string Drill, string QueueType, int Subscribers, long Confirmed, long Delivered, long Lost, long Duplicates, long Refusals,
    TimeSpan LongestRefused, TimeSpan LongestAway, long PublishesReturned, long PublishesFailed, TimeSpan Outage, TimeSpan Recovered,
    IReadOnlyList<string> Endings)
{
    private static string S(TimeSpan t) => t.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture) + " s";

    /// <summary>A row of the README's drill table.</summary>
    public string Row =>
        $"| {Drill} | {QueueType} | {Subscribers} | {S(LongestAway)} (refused {S(LongestRefused)}, {Refusals} refusals) | "
        + $"{string.Join("; ", Endings)} | {Confirmed} / {Delivered} / {Lost} lost / {Duplicates} twice | {PublishesReturned} returned, {PublishesFailed} failed |";

    public override string ToString() =>
        $"{Drill} ({QueueType}): {Subscribers} subscribers; confirmed {Confirmed}, delivered {Delivered}, lost {Lost}, duplicates {Duplicates}; "
        + $"refusals {Refusals}, longest refused {S(LongestRefused)}, longest without a stream {S(LongestAway)}; "
        + $"publishes returned {PublishesReturned}, failed {PublishesFailed}; disturbance {S(Outage)}, all streaming {S(Recovered)} after it began; "
        + $"endings: {string.Join(" | ", Endings)}";
}
