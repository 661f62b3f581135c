using System.Globalization;
using System.Text.Json;
using Eventsourced.Testing.Processes;

namespace Eventsourced.Testing.Brokers;

/// <summary>A row of <c>rabbitmqctl list_queues name consumers messages</c>.</summary>
public sealed record QueueInfo(string Name, long Consumers, long Messages);

/// <summary>A row of <c>rabbitmqctl list_connections name channels client_properties</c>.</summary>
/// <param name="Name">The broker's name for it: <c>127.0.0.1:PORT -&gt; 127.0.0.1:PORT</c>.</param>
/// <param name="ClientProvidedName">The <c>connection_name</c> the client sent (RabbitMQ.Client's <c>ClientProvidedName</c>), if any.</param>
public sealed record ConnectionInfo(string Name, long Channels, string? ClientProvidedName);

/// <summary>A row of <c>rabbitmqctl list_channels name number consumer_count messages_unacknowledged prefetch_count</c>.</summary>
/// <param name="Name">The connection's name followed by the channel number: <c>127.0.0.1:PORT -&gt; 127.0.0.1:PORT (1)</c>.</param>
public sealed record ChannelInfo(string Name, long Number, long ConsumerCount, long MessagesUnacknowledged, long PrefetchCount);

/// <summary>
/// What tests ask of <c>rabbitmqctl</c>, the same whichever <see cref="IRabbitmqctl"/> runs it: commands
/// that must succeed, <c>list_*</c> output parsed from JSON, application stop and start, cluster status.
/// </summary>
public static class RabbitmqctlCommands
{
    /// <summary>Runs a command and returns its standard output.</summary>
    /// <exception cref="InvalidOperationException">The command failed; the message has its output.</exception>
    public static async Task<string> RunCheckedAsync(this IRabbitmqctl rabbitmqctl, IEnumerable<string> arguments, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var list = arguments.ToList();
        var result = await rabbitmqctl.RunAsync(list, timeout, cancellationToken);
        if (!result.Succeeded)
        {
            throw new InvalidOperationException(
                $"{rabbitmqctl} {string.Join(' ', list)} exited with {result.ExitCode}: "
                + $"{result.StandardError.Trim()} {result.StandardOutput.Trim()}".Trim());
        }
        return result.StandardOutput;
    }

    /// <summary>Waits (up to <paramref name="timeout"/>) for the node to finish booting; fails at once if the node is not running at all.</summary>
    public static Task<ProcessResult> AwaitStartupAsync(this IRabbitmqctl rabbitmqctl, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        rabbitmqctl.RunAsync(["await_startup", "--timeout", ((int)Math.Ceiling(timeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture)],
            timeout + TimeSpan.FromSeconds(15), cancellationToken);

    /// <summary>
    /// Runs a <c>list_*</c> command with <c>--formatter json</c> and returns one element per row; a listing that failed
    /// because something it visited ended meanwhile is run again (twice at most).
    /// </summary>
    public static async Task<IReadOnlyList<JsonElement>> ListAsync(this IRabbitmqctl rabbitmqctl, string command, IEnumerable<string> columns, CancellationToken cancellationToken = default)
    {
        string output;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                output = await rabbitmqctl.RunCheckedAsync([command, .. columns, "--formatter", "json"], cancellationToken: cancellationToken);
                break;
            }
            catch (InvalidOperationException ex) when (attempt < 3 && ex.Message.Contains("{:badrpc, {:EXIT, {:normal,", StringComparison.Ordinal))
            {
                // Something the listing visited (a queue another test deleted meanwhile) ended during the call, and
                // rabbitmqctl fails the whole listing: asked again, it lists what there is now.
            }
        }

        var start = output.IndexOf('[', StringComparison.Ordinal);
        if (start < 0)
        {
            throw new InvalidOperationException($"rabbitmqctl {command} printed no JSON array: {output}");
        }
        using var document = JsonDocument.Parse(output.AsMemory(start));
        return document.RootElement.EnumerateArray().Select(row => row.Clone()).ToList();
    }

    public static async Task<IReadOnlyList<QueueInfo>> ListQueuesAsync(this IRabbitmqctl rabbitmqctl, CancellationToken cancellationToken = default)
    {
        var rows = await rabbitmqctl.ListAsync("list_queues", ["name", "consumers", "messages"], cancellationToken);
        return rows.Select(row => new QueueInfo(
            GetString(row, "name"),
            GetNumber(row, "consumers"),
            GetNumber(row, "messages"))).ToList();
    }

    /// <summary>The queue named <paramref name="name"/>, or null when the broker has none.</summary>
    public static async Task<QueueInfo?> FindQueueAsync(this IRabbitmqctl rabbitmqctl, string name, CancellationToken cancellationToken = default) =>
        (await rabbitmqctl.ListQueuesAsync(cancellationToken)).FirstOrDefault(queue => queue.Name == name);

    public static async Task<IReadOnlyList<ConnectionInfo>> ListConnectionsAsync(this IRabbitmqctl rabbitmqctl, CancellationToken cancellationToken = default)
    {
        var rows = await rabbitmqctl.ListAsync("list_connections", ["name", "channels", "client_properties"], cancellationToken);
        return rows.Select(row => new ConnectionInfo(
            GetString(row, "name"),
            GetNumber(row, "channels"),
            ClientProvidedName(row))).ToList();
    }

    public static async Task<IReadOnlyList<ChannelInfo>> ListChannelsAsync(this IRabbitmqctl rabbitmqctl, CancellationToken cancellationToken = default)
    {
        var rows = await rabbitmqctl.ListAsync(
            "list_channels", ["name", "number", "consumer_count", "messages_unacknowledged", "prefetch_count"], cancellationToken);
        return rows.Select(row => new ChannelInfo(
            GetString(row, "name"),
            GetNumber(row, "number"),
            GetNumber(row, "consumer_count"),
            GetNumber(row, "messages_unacknowledged"),
            GetNumber(row, "prefetch_count"))).ToList();
    }

    /// <summary>Connections whose client-provided name starts with <paramref name="clientNamePrefix"/> (ordinal).</summary>
    public static async Task<int> ConnectionCountAsync(this IRabbitmqctl rabbitmqctl, string clientNamePrefix, CancellationToken cancellationToken = default) =>
        (await rabbitmqctl.ListConnectionsAsync(cancellationToken)).Count(connection => HasPrefix(connection, clientNamePrefix));

    /// <summary>Open channels on the connections whose client-provided name starts with <paramref name="clientNamePrefix"/>.</summary>
    public static async Task<long> ChannelCountAsync(this IRabbitmqctl rabbitmqctl, string clientNamePrefix, CancellationToken cancellationToken = default) =>
        (await rabbitmqctl.ListConnectionsAsync(cancellationToken)).Where(connection => HasPrefix(connection, clientNamePrefix)).Sum(connection => connection.Channels);

    /// <summary>The queue's members (quorum and stream queues: the nodes holding a replica), or null when the broker has no such queue.</summary>
    public static async Task<IReadOnlyList<string>?> QueueMembersAsync(this IRabbitmqctl rabbitmqctl, string name, CancellationToken cancellationToken = default)
    {
        var rows = await rabbitmqctl.ListAsync("list_queues", ["name", "members"], cancellationToken);
        var row = rows.FirstOrDefault(r => GetString(r, "name") == name);
        return row.ValueKind == JsonValueKind.Undefined ? null : Strings(row, "members");
    }

    /// <summary>The node holding the queue's leader (quorum and stream queues; classic queues: their home node), or null when the broker has no such queue.</summary>
    public static async Task<string?> QueueLeaderAsync(this IRabbitmqctl rabbitmqctl, string name, CancellationToken cancellationToken = default)
    {
        var rows = await rabbitmqctl.ListAsync("list_queues", ["name", "leader"], cancellationToken);
        var row = rows.FirstOrDefault(r => GetString(r, "name") == name);
        return row.ValueKind == JsonValueKind.Undefined ? null : GetString(row, "leader");
    }

    /// <summary><c>stop_app</c>: the RabbitMQ application stops, the Erlang VM keeps running (as before <c>join_cluster</c>).</summary>
    public static Task StopAppAsync(this IRabbitmqctl rabbitmqctl, CancellationToken cancellationToken = default) =>
        rabbitmqctl.RunCheckedAsync(["stop_app"], TimeSpan.FromSeconds(120), cancellationToken);

    /// <summary><c>start_app</c>: the RabbitMQ application starts again in the running VM; returns once it has booted.</summary>
    public static Task StartAppAsync(this IRabbitmqctl rabbitmqctl, CancellationToken cancellationToken = default) =>
        rabbitmqctl.RunCheckedAsync(["start_app"], TimeSpan.FromSeconds(120), cancellationToken);

    /// <summary><c>join_cluster NODE</c>: joins <paramref name="clusterNode"/>'s cluster; the application must be stopped (<see cref="StopAppAsync"/>).</summary>
    public static Task JoinClusterAsync(this IRabbitmqctl rabbitmqctl, string clusterNode, CancellationToken cancellationToken = default) =>
        rabbitmqctl.RunCheckedAsync(["join_cluster", clusterNode], TimeSpan.FromSeconds(120), cancellationToken);

    /// <summary>The nodes <c>cluster_status</c> lists as running, as the node asked sees it.</summary>
    public static async Task<IReadOnlyList<string>> RunningNodesAsync(this IRabbitmqctl rabbitmqctl, CancellationToken cancellationToken = default)
    {
        var output = await rabbitmqctl.RunCheckedAsync(["cluster_status", "--formatter", "json"], cancellationToken: cancellationToken);
        var start = output.IndexOf('{', StringComparison.Ordinal);
        if (start < 0)
        {
            throw new InvalidOperationException($"{rabbitmqctl} cluster_status printed no JSON object: {output}");
        }
        using var document = JsonDocument.Parse(output.AsMemory(start));
        return Strings(document.RootElement, "running_nodes");
    }

    /// <summary>
    /// Raises a memory alarm on the node (<c>set_vm_memory_high_watermark absolute 1</c>): the broker blocks every
    /// connection that publishes until <see cref="ClearMemoryAlarmAsync"/>. Clear it in a finally.
    /// </summary>
    public static Task RaiseMemoryAlarmAsync(this IRabbitmqctl rabbitmqctl, CancellationToken cancellationToken = default) =>
        rabbitmqctl.RunCheckedAsync(["set_vm_memory_high_watermark", "absolute", "1"], cancellationToken: cancellationToken);

    /// <summary>Clears the memory alarm of <see cref="RaiseMemoryAlarmAsync"/> (the default watermark, 0.4).</summary>
    public static Task ClearMemoryAlarmAsync(this IRabbitmqctl rabbitmqctl, CancellationToken cancellationToken = default) =>
        rabbitmqctl.RunCheckedAsync(["set_vm_memory_high_watermark", "0.4"], cancellationToken: cancellationToken);

    /// <summary>The operating-system process id of the node's Erlang VM (<c>beam.smp</c>), as the VM itself tells it.</summary>
    public static async Task<int> VmProcessIdAsync(this IRabbitmqctl rabbitmqctl, CancellationToken cancellationToken = default)
    {
        var output = await rabbitmqctl.RunCheckedAsync(["eval", "os:getpid()."], cancellationToken: cancellationToken);
        return int.TryParse(output.Trim().Trim('"'), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
            ? pid
            : throw new InvalidOperationException($"{rabbitmqctl} eval 'os:getpid().' printed no process id: {output}");
    }

    /// <summary>
    /// How many declares of <paramref name="queue"/> the node refused for other arguments (406 PRECONDITION_FAILED,
    /// <c>inequivalent arg ... for queue 'NAME'</c>), counted in the node's own log file (read by the node, so the same
    /// for a process and a container). The broker writes its log asynchronously: poll for a count to appear.
    /// </summary>
    public static async Task<int> InequivalentDeclaresAsync(this IRabbitmqctl rabbitmqctl, string queue, CancellationToken cancellationToken = default)
    {
        if (queue.Any(c => c is '"' or '\\' or '\'' || char.IsControl(c)))
        {
            throw new ArgumentException($"queue name {queue} needs quoting in an Erlang expression", nameof(queue));
        }

        var expression = "{ok, Log} = file:read_file(hd(rabbit:log_locations())), "
            + "length([L || L <- binary:split(Log, <<\"\\n\">>, [global]), binary:match(L, <<\"inequivalent arg\">>) =/= nomatch, "
            + $"binary:match(L, <<\"for queue '{queue}' in vhost\">>) =/= nomatch]).";
        var output = await rabbitmqctl.RunCheckedAsync(["eval", expression], cancellationToken: cancellationToken);
        return int.TryParse(output.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var count)
            ? count
            : throw new InvalidOperationException($"{rabbitmqctl} eval counting refused declares printed no number: {output}");
    }

    private static bool HasPrefix(ConnectionInfo connection, string prefix) =>
        connection.ClientProvidedName?.StartsWith(prefix, StringComparison.Ordinal) == true;

    private static string GetString(JsonElement row, string name) =>
        row.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : value.ToString();

    private static IReadOnlyList<string> Strings(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Array
            ? value.EnumerateArray().Select(item => item.ToString()).ToList()
            : [];

    private static long GetNumber(JsonElement row, string name)
    {
        if (!row.TryGetProperty(name, out var value))
        {
            return 0;
        }
        return value.ValueKind switch
        {
            JsonValueKind.Number => value.GetInt64(),
            JsonValueKind.String when long.TryParse(value.GetString(), out var parsed) => parsed,
            _ => 0,
        };
    }

    // client_properties renders as a JSON object in 3.10 and as a list of [key, type, value] triples elsewhere.
    private static string? ClientProvidedName(JsonElement row)
    {
        if (!row.TryGetProperty("client_properties", out var properties))
        {
            return null;
        }
        if (properties.ValueKind == JsonValueKind.Object)
        {
            return properties.TryGetProperty("connection_name", out var name) ? name.ToString() : null;
        }
        if (properties.ValueKind == JsonValueKind.Array)
        {
            foreach (var entry in properties.EnumerateArray())
            {
                if (entry.ValueKind == JsonValueKind.Array && entry.GetArrayLength() == 3
                    && entry[0].ValueKind == JsonValueKind.String && entry[0].GetString() == "connection_name")
                {
                    return entry[2].ToString();
                }
            }
        }
        return null;
    }
}
