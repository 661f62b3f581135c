namespace Eventsourced.IntegrationTests.Infrastructure;

/// <summary>Proves the three-node cluster fixture: it forms, replicates a quorum queue, survives a killed or frozen node and a full restart.</summary>
[Collection(ClusterCollection.Name)]
public sealed class RabbitClusterSmokeTests(RabbitClusterFixture fixture) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static readonly Dictionary<string, object?> Quorum = new() { ["x-queue-type"] = "quorum" };

    private RabbitCluster Cluster => fixture.Cluster;

    public Task InitializeAsync() => fixture.EnsureHealthyAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task StartAsync_ThreeNodes_RunAsOneClusterAndAQuorumQueueHasAMemberOnEach()
    {
        const string Name = nameof(StartAsync_ThreeNodes_RunAsOneClusterAndAQuorumQueueHasAMemberOnEach);
        var names = Sorted(Cluster.NodeNames);

        Assert.Equal(3, names.Distinct().Count());
        Assert.Equal(3, Cluster.Nodes.Select(node => node.AmqpPort).Distinct().Count());
        Assert.Equal(3, Cluster.Nodes.Select(node => node.DistributionPort).Distinct().Count());
        Assert.Equal(3, Cluster.Nodes.Select(node => node.Directory).Distinct().Count());
        Assert.All(Cluster.Nodes, node => Assert.Equal(Cluster.ErlangCookie, node.ErlangCookie));
        foreach (var node in Cluster.Nodes)
        {
            Assert.Equal(names, Sorted(await node.Rabbitmqctl.RunningNodesAsync()));
        }

        await using var client = await AmqpTestClient.ConnectAsync(Cluster.Nodes[0].AmqpUrl, Name);
        var queue = QueueNames.Unique(Name);
        await client.DeclareQueueAsync(queue, durable: true, arguments: Quorum);
        try
        {
            Assert.Equal(names, Sorted(await Cluster.Nodes[0].Rabbitmqctl.QueueMembersAsync(queue)));
            Assert.Equal(Cluster.Nodes[0].NodeName, await Cluster.Nodes[0].Rabbitmqctl.QueueLeaderAsync(queue));
        }
        finally
        {
            await client.DeleteQueueAsync(queue);
        }
    }

    [Fact]
    public async Task KillAsync_OneNode_TheOthersServeTheQuorumQueue_AndTheNodeRejoinsAfterStartAsync()
    {
        const string Name = nameof(KillAsync_OneNode_TheOthersServeTheQuorumQueue_AndTheNodeRejoinsAfterStartAsync);
        var (killed, second, third) = (Cluster.Nodes[0], Cluster.Nodes[1], Cluster.Nodes[2]);
        var queue = QueueNames.Unique(Name);
        await using (var before = await AmqpTestClient.ConnectAsync(killed.AmqpUrl, Name + "-before"))
        {
            await before.DeclareQueueAsync(queue, durable: true, arguments: Quorum);
            await before.PublishAsync(queue, "before the kill");
        }
        var vm = killed.VmProcessId;

        // Node 1, the queue's leader (declared there): kill -9.
        await killed.KillAsync();

        Assert.False(killed.IsRunning);
        Assert.NotNull(vm);
        // Gone, or a zombie its new parent has not reaped yet (the launcher that started it died with it): either way it runs no more.
        Assert.True(ProcessState(vm!.Value) is null or 'Z' or 'X', $"beam.smp {vm} still runs (state {ProcessState(vm.Value)})");
        await Assert.ThrowsAsync<TimeoutException>(() => AmqpTestClient.ConnectAsync(killed.AmqpUrl, Name + "-refused", TimeSpan.FromSeconds(1)));
        await Wait.UntilAsync(
            async () => await second.Rabbitmqctl.QueueLeaderAsync(queue) is { } leader && leader != killed.NodeName,
            Timeout, $"a new leader for {queue} on a surviving node");
        await using (var viaSecond = await AmqpTestClient.ConnectAsync(second.AmqpUrl, Name + "-second"))
        {
            await viaSecond.PublishAsync(queue, "after the kill");
        }
        await using (var viaThird = await AmqpTestClient.ConnectAsync(third.AmqpUrl, Name + "-third"))
        {
            var received = await viaThird.ReceiveAsync(queue, 2, Timeout);
            Assert.Equal(["before the kill", "after the kill"], received.Select(message => message.Text));
        }

        await killed.StartAsync();
        await Cluster.WaitUntilRunningAsync();

        Assert.Equal(Sorted(Cluster.NodeNames), Sorted(await killed.Rabbitmqctl.RunningNodesAsync()));
        Assert.Equal(Sorted(Cluster.NodeNames), Sorted(await killed.Rabbitmqctl.QueueMembersAsync(queue)));
        await using var viaRestarted = await AmqpTestClient.ConnectAsync(killed.AmqpUrl, Name + "-restarted");
        await viaRestarted.PublishAsync(queue, "after the restart");
        Assert.Equal("after the restart", (await viaRestarted.GetAsync(queue))?.Text);
        await viaRestarted.DeleteQueueAsync(queue);
    }

    [Fact]
    public async Task PauseAsync_OneNode_FreezesItsVm_TheOthersServe_AndResumeAsyncThawsIt()
    {
        const string Name = nameof(PauseAsync_OneNode_FreezesItsVm_TheOthersServe_AndResumeAsyncThawsIt);
        var (first, frozen) = (Cluster.Nodes[0], Cluster.Nodes[2]);
        var queue = QueueNames.Unique(Name);
        await using var client = await AmqpTestClient.ConnectAsync(first.AmqpUrl, Name);
        // Declared before the freeze: a declaration is a cluster-wide schema change, which waits for a frozen
        // node until the others count it as gone (net_ticktime). Publishing to a quorum queue needs only a majority.
        await client.DeclareQueueAsync(queue, durable: true, arguments: Quorum);
        var vm = frozen.VmProcessId ?? throw new InvalidOperationException($"{frozen} has no VM");

        await frozen.PauseAsync();
        try
        {
            Assert.True(frozen.IsPaused);
            Assert.Equal('T', ProcessState(vm));
            await Assert.ThrowsAsync<TimeoutException>(() => AmqpTestClient.ConnectAsync(frozen.AmqpUrl, Name + "-frozen", TimeSpan.FromSeconds(1)));
            await client.PublishAsync(queue, "while frozen");
            Assert.Equal("while frozen", (await client.GetAsync(queue))?.Text);
        }
        finally
        {
            await frozen.ResumeAsync();
        }

        Assert.False(frozen.IsPaused);
        Assert.NotEqual('T', ProcessState(vm));
        await Cluster.WaitUntilRunningAsync();
        await client.DeleteQueueAsync(queue);
    }

    [Fact]
    public async Task RestartAsync_WholeCluster_ComesBackTogetherWithTheQuorumQueueAndItsMessage()
    {
        const string Name = nameof(RestartAsync_WholeCluster_ComesBackTogetherWithTheQuorumQueueAndItsMessage);
        var queue = QueueNames.Unique(Name);
        await using (var before = await AmqpTestClient.ConnectAsync(Cluster.Nodes[1].AmqpUrl, Name + "-before"))
        {
            await before.DeclareQueueAsync(queue, durable: true, arguments: Quorum);
            await before.PublishAsync(queue, "survivor");
        }

        await Cluster.RestartAsync();

        Assert.All(Cluster.Nodes, node => Assert.True(node.IsRunning, $"{node} does not run"));
        foreach (var node in Cluster.Nodes)
        {
            Assert.Equal(Sorted(Cluster.NodeNames), Sorted(await node.Rabbitmqctl.RunningNodesAsync()));
        }
        await using var after = await AmqpTestClient.ConnectAsync(Cluster.Nodes[2].AmqpUrl, Name + "-after");
        Assert.Equal(["survivor"], (await after.ReceiveAsync(queue, 1, Timeout)).Select(message => message.Text));
        await after.DeleteQueueAsync(queue);
    }

    private static List<string> Sorted(IEnumerable<string>? names) => names?.Order(StringComparer.Ordinal).ToList() ?? [];

    // The state letter of /proc/PID/stat (R, S, D, T stopped, Z...), or null when there is no such process.
    private static char? ProcessState(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[stat.LastIndexOf(')') + 2];
        }
        catch (IOException)
        {
            return null;
        }
    }
}
