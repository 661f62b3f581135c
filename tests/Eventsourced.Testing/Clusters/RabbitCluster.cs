using System.Diagnostics;
using System.Security.Cryptography;
using Eventsourced.Testing.Brokers;

namespace Eventsourced.Testing.Clusters;

/// <summary>
/// A RabbitMQ cluster of <see cref="RabbitNode"/> processes on this machine (three unless asked otherwise):
/// distinct node names, AMQP and distribution ports and data directories, one Erlang cookie, the nodes after
/// the first joined to it (<c>stop_app</c>, <c>join_cluster</c>, <c>start_app</c>). For failure drills: each
/// node can be killed (SIGKILL), frozen (SIGSTOP/SIGCONT to its <c>beam.smp</c>), stopped and started through
/// <see cref="Nodes"/>, the whole cluster restarted with <see cref="RestartAsync"/>. Disposing it kills every
/// node and deletes its directory, and fails if a process or file is left behind.
/// Requires RabbitMQ to be installed (Debian: rabbitmq-server); there is no container variant.
/// </summary>
public sealed class RabbitCluster : IAsyncDisposable
{
    private bool _disposed;

    private RabbitCluster(string name, string directory, string erlangCookie, IReadOnlyList<RabbitNode> nodes)
    {
        Name = name;
        Directory = directory;
        ErlangCookie = erlangCookie;
        Nodes = nodes;
    }

    /// <summary><c>PREFIX-RANDOM</c>; every node's name starts with it.</summary>
    public string Name { get; }

    /// <summary>Holds every node's directory (data, logs, cookie); deleted by <see cref="DisposeAsync"/>.</summary>
    public string Directory { get; }

    /// <summary>The cookie all nodes (and their <see cref="RabbitNode.Rabbitmqctl"/>) use.</summary>
    public string ErlangCookie { get; }

    /// <summary>The nodes; the others joined the first (<c>Nodes[0]</c>).</summary>
    public IReadOnlyList<RabbitNode> Nodes { get; }

    /// <summary>Each node's AMQP URL, in the order of <see cref="Nodes"/>.</summary>
    public IReadOnlyList<string> AmqpUrls => Nodes.Select(node => node.AmqpUrl).ToList();

    /// <summary>Every node's name (<c>name@localhost</c>), in the order of <see cref="Nodes"/>.</summary>
    public IReadOnlyList<string> NodeNames => Nodes.Select(node => node.NodeName).ToList();

    /// <summary>
    /// Starts <paramref name="size"/> nodes at once, joins the others to the first one after another, and waits
    /// until every node lists all of them as running.
    /// </summary>
    /// <param name="configuration">Lines for every node's <c>rabbitmq.conf</c> (e.g. <c>cluster_partition_handling = pause_minority</c>).</param>
    /// <exception cref="InvalidOperationException">RabbitMQ is not installed, a node did not start, or a join failed; nothing is left running.</exception>
    /// <exception cref="TimeoutException">The cluster did not form in time; nothing is left running.</exception>
    public static async Task<RabbitCluster> StartAsync(
        int size = 3,
        string namePrefix = "es-cl",
        string? configuration = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 2);
        var name = $"{namePrefix}-{Convert.ToHexString(RandomNumberGenerator.GetBytes(3)).ToLowerInvariant()}";
        var directory = Path.Combine(Path.GetTempPath(), "eventsourced-rabbit", name);
        var cookie = Convert.ToHexString(RandomNumberGenerator.GetBytes(20));
        var nodes = Enumerable.Range(1, size)
            .Select(i => RabbitNode.Create($"{name}-{i}", cookie, directory, configuration))
            .ToList();
        var cluster = new RabbitCluster(name, directory, cookie, nodes);
        try
        {
            await Task.WhenAll(nodes.Select(node => node.StartAsync(cancellationToken)));
            var seed = nodes[0];
            // One after another: joins are schema changes on the seed, and the machine is small.
            foreach (var node in nodes.Skip(1))
            {
                await node.Rabbitmqctl.StopAppAsync(cancellationToken);
                await node.Rabbitmqctl.JoinClusterAsync(seed.NodeName, cancellationToken);
                await node.Rabbitmqctl.StartAppAsync(cancellationToken);
            }
            await cluster.WaitUntilRunningAsync(cancellationToken: cancellationToken);
            return cluster;
        }
        catch (Exception ex)
        {
            try
            {
                await cluster.DisposeAsync();
            }
            catch (InvalidOperationException cleanup)
            {
                throw new InvalidOperationException($"{ex.Message}\nAlso, cleaning up: {cleanup.Message}", ex);
            }
            throw;
        }
    }

    /// <summary>The nodes that <paramref name="node"/> lists as running in its <c>cluster_status</c>.</summary>
    public Task<IReadOnlyList<string>> RunningNodesAsync(RabbitNode node, CancellationToken cancellationToken = default) =>
        node.Rabbitmqctl.RunningNodesAsync(cancellationToken);

    /// <summary>
    /// Waits until each of <paramref name="nodes"/> (default: all) lists all of them as running: a restarted
    /// node has rejoined, and the others see it.
    /// </summary>
    /// <exception cref="TimeoutException">Not within <paramref name="timeout"/> (default 2 min); the message says what each node saw last.</exception>
    public async Task WaitUntilRunningAsync(
        IReadOnlyCollection<RabbitNode>? nodes = null,
        TimeSpan? timeout = null,
        CancellationToken cancellationToken = default)
    {
        var expected = (nodes ?? Nodes).ToList();
        var names = expected.Select(node => node.NodeName).ToHashSet(StringComparer.Ordinal);
        var seen = new Dictionary<string, string>();
        try
        {
            await Wait.UntilAsync(
                async () =>
                {
                    var together = true;
                    foreach (var node in expected)
                    {
                        var running = await node.Rabbitmqctl.RunningNodesAsync(cancellationToken);
                        seen[node.NodeName] = string.Join(", ", running);
                        together &= names.IsSubsetOf(running);
                    }
                    return together;
                },
                timeout ?? TimeSpan.FromMinutes(2),
                $"nodes {string.Join(", ", names)} all list each other as running",
                TimeSpan.FromSeconds(1),
                cancellationToken);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException(
                $"{ex.Message}\nLast seen: {string.Join("; ", seen.Select(pair => $"{pair.Key} lists [{pair.Value}]"))}", ex);
        }
    }

    /// <summary>Stops every node gracefully (the last first), starts them all at once and waits until they run together again.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        foreach (var node in Nodes.Reverse())
        {
            await node.StopAsync(cancellationToken);
        }
        // At once: a node that did not stop last waits at boot for the one that did.
        await Task.WhenAll(Nodes.Select(node => node.StartAsync(cancellationToken)));
        await WaitUntilRunningAsync(cancellationToken: cancellationToken);
    }

    /// <summary>Resumes paused nodes, starts stopped or killed ones and waits until all run together: where a drill left the cluster, the next test starts from a whole one.</summary>
    public async Task EnsureHealthyAsync(CancellationToken cancellationToken = default)
    {
        foreach (var node in Nodes)
        {
            await node.ResumeAsync(cancellationToken);
        }
        await Task.WhenAll(Nodes.Where(node => !node.IsRunning).Select(node => node.StartAsync(cancellationToken)));
        await WaitUntilRunningAsync(cancellationToken: cancellationToken);
    }

    /// <summary>Kills every node, deletes the cluster's directory, and checks that no process or file is left.</summary>
    /// <exception cref="InvalidOperationException">Something was left behind; the message says what.</exception>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        await Task.WhenAll(Nodes.Select(node => node.DisposeAsync().AsTask()));
        // A killed VM's helpers may take a moment to go.
        var patience = Stopwatch.StartNew();
        var leftovers = ProcessesUsing(Directory).ToList();
        while (leftovers.Count > 0 && patience.Elapsed < TimeSpan.FromSeconds(15))
        {
            await Task.Delay(200);
            leftovers = ProcessesUsing(Directory).ToList();
        }
        if (leftovers.Count == 0)
        {
            if (await TempDirectories.DeleteAsync(Directory) is { } error)
            {
                leftovers.Add($"{Directory} could not be deleted: {error.Message}");
            }
        }
        if (System.IO.Directory.Exists(Directory))
        {
            leftovers.Add($"directory {Directory}");
        }
        if (leftovers.Count > 0)
        {
            throw new InvalidOperationException($"Cluster {Name} left things behind: {string.Join("; ", leftovers)}");
        }
    }

    public override string ToString() => $"cluster {Name} ({string.Join(", ", Nodes.Select(node => node.ToString()))})";

    // Processes whose command line names the directory: a node's Erlang VM (its data and log paths) or launcher.
    private static IEnumerable<string> ProcessesUsing(string directory)
    {
        foreach (var proc in System.IO.Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(proc), out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }
            string commandLine;
            try
            {
                commandLine = File.ReadAllText(Path.Combine(proc, "cmdline")).Replace('\0', ' ');
            }
            catch (IOException)
            {
                continue; // exited meanwhile
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }
            if (commandLine.Contains(directory, StringComparison.Ordinal))
            {
                yield return $"process {pid} ({(commandLine.Length <= 120 ? commandLine : commandLine[..120] + "...").Trim()})";
            }
        }
    }
}
