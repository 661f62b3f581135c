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
/// Runs <c>rabbitmqctl -n NODE</c> against one node and parses its JSON output. Calls are
/// bounded by a timeout and limited in concurrency (each call starts an Erlang VM).
/// </summary>
public sealed class Rabbitmqctl
{
    // Each CLI call starts a VM (~0.5 s of CPU); the machine has 2 cores and the CLI's own
    // distribution port range is small.
    private static readonly SemaphoreSlim Concurrency = new(3, 3);

    private readonly string? _erlangCookie;

    /// <param name="nodeName">The node, <c>name@host</c>.</param>
    /// <param name="erlangCookie">The node's Erlang cookie; null uses the CLI's default (its user's <c>~/.erlang.cookie</c>; for root on Debian, the rabbitmq user's).</param>
    /// <param name="executable">The rabbitmqctl to run; null picks one (see remarks on <see cref="RabbitMqInstallation"/>).</param>
    public Rabbitmqctl(string nodeName, string? erlangCookie = null, string? executable = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nodeName);
        NodeName = nodeName;
        _erlangCookie = string.IsNullOrWhiteSpace(erlangCookie) ? null : erlangCookie.Trim();
        Executable = executable ?? DefaultExecutable(_erlangCookie is not null);
    }

    public string NodeName { get; }

    public string Executable { get; }

    /// <summary>How long one call may take unless the caller says otherwise.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Runs <c>rabbitmqctl -n NODE -q ARGS</c> and returns whatever it did.</summary>
    public async Task<ProcessResult> RunAsync(IEnumerable<string> arguments, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var all = new List<string> { "-n", NodeName, "-q" };
        if (_erlangCookie is not null)
        {
            all.Add("--erlang-cookie");
            all.Add(_erlangCookie);
        }
        all.AddRange(arguments);
        var environment = new Dictionary<string, string?>
        {
            // The CLI's own distribution listener: the default range has only 11 ports.
            ["RABBITMQ_CTL_DIST_PORT_MIN"] = "35672",
            ["RABBITMQ_CTL_DIST_PORT_MAX"] = "35872",
            // Elixir warns (and mangles non-ASCII names) under a latin1 locale.
            ["LC_ALL"] = "C.UTF-8",
        };

        await Concurrency.WaitAsync(cancellationToken);
        try
        {
            return await ProcessRunner.RunAsync(Executable, all, timeout ?? Timeout, environment, cancellationToken: cancellationToken);
        }
        finally
        {
            Concurrency.Release();
        }
    }

    /// <summary>Runs a command and returns its standard output.</summary>
    /// <exception cref="InvalidOperationException">The command failed; the message has its output.</exception>
    public async Task<string> RunCheckedAsync(IEnumerable<string> arguments, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var list = arguments.ToList();
        var result = await RunAsync(list, timeout, cancellationToken);
        if (!result.Succeeded)
        {
            throw new InvalidOperationException(
                $"rabbitmqctl -n {NodeName} {string.Join(' ', list)} exited with {result.ExitCode}: "
                + $"{result.StandardError.Trim()} {result.StandardOutput.Trim()}".Trim());
        }
        return result.StandardOutput;
    }

    /// <summary>Waits (up to <paramref name="timeout"/>) for the node to finish booting; fails at once if the node is not running at all.</summary>
    public Task<ProcessResult> AwaitStartupAsync(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        RunAsync(["await_startup", "--timeout", ((int)Math.Ceiling(timeout.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture)],
            timeout + TimeSpan.FromSeconds(15), cancellationToken);

    /// <summary>Runs a <c>list_*</c> command with <c>--formatter json</c> and returns one element per row.</summary>
    public async Task<IReadOnlyList<JsonElement>> ListAsync(string command, IEnumerable<string> columns, CancellationToken cancellationToken = default)
    {
        var output = await RunCheckedAsync([command, .. columns, "--formatter", "json"], cancellationToken: cancellationToken);
        var start = output.IndexOf('[', StringComparison.Ordinal);
        if (start < 0)
        {
            throw new InvalidOperationException($"rabbitmqctl {command} printed no JSON array: {output}");
        }
        using var document = JsonDocument.Parse(output.AsMemory(start));
        return document.RootElement.EnumerateArray().Select(row => row.Clone()).ToList();
    }

    public async Task<IReadOnlyList<QueueInfo>> ListQueuesAsync(CancellationToken cancellationToken = default)
    {
        var rows = await ListAsync("list_queues", ["name", "consumers", "messages"], cancellationToken);
        return rows.Select(row => new QueueInfo(
            GetString(row, "name"),
            GetNumber(row, "consumers"),
            GetNumber(row, "messages"))).ToList();
    }

    /// <summary>The queue named <paramref name="name"/>, or null when the broker has none.</summary>
    public async Task<QueueInfo?> FindQueueAsync(string name, CancellationToken cancellationToken = default) =>
        (await ListQueuesAsync(cancellationToken)).FirstOrDefault(queue => queue.Name == name);

    public async Task<IReadOnlyList<ConnectionInfo>> ListConnectionsAsync(CancellationToken cancellationToken = default)
    {
        var rows = await ListAsync("list_connections", ["name", "channels", "client_properties"], cancellationToken);
        return rows.Select(row => new ConnectionInfo(
            GetString(row, "name"),
            GetNumber(row, "channels"),
            ClientProvidedName(row))).ToList();
    }

    public async Task<IReadOnlyList<ChannelInfo>> ListChannelsAsync(CancellationToken cancellationToken = default)
    {
        var rows = await ListAsync(
            "list_channels", ["name", "number", "consumer_count", "messages_unacknowledged", "prefetch_count"], cancellationToken);
        return rows.Select(row => new ChannelInfo(
            GetString(row, "name"),
            GetNumber(row, "number"),
            GetNumber(row, "consumer_count"),
            GetNumber(row, "messages_unacknowledged"),
            GetNumber(row, "prefetch_count"))).ToList();
    }

    /// <summary>Connections whose client-provided name starts with <paramref name="clientNamePrefix"/> (ordinal).</summary>
    public async Task<int> ConnectionCountAsync(string clientNamePrefix, CancellationToken cancellationToken = default) =>
        (await ListConnectionsAsync(cancellationToken)).Count(connection => HasPrefix(connection, clientNamePrefix));

    /// <summary>Open channels on the connections whose client-provided name starts with <paramref name="clientNamePrefix"/>.</summary>
    public async Task<long> ChannelCountAsync(string clientNamePrefix, CancellationToken cancellationToken = default) =>
        (await ListConnectionsAsync(cancellationToken)).Where(connection => HasPrefix(connection, clientNamePrefix)).Sum(connection => connection.Channels);

    public override string ToString() => $"rabbitmqctl -n {NodeName}";

    private static string DefaultExecutable(bool haveCookie)
    {
        // With a cookie we can call the real script directly. Without one, the rabbitmqctl on
        // PATH knows the system's cookie (Debian's wrapper switches to the rabbitmq user).
        if (haveCookie && RabbitMqInstallation.ScriptsOrNull is { } scripts)
        {
            return Path.Combine(scripts, "rabbitmqctl");
        }
        var onPath = (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, "rabbitmqctl"))
            .FirstOrDefault(File.Exists);
        return onPath ?? (RabbitMqInstallation.ScriptsOrNull is { } fallback ? Path.Combine(fallback, "rabbitmqctl") : "rabbitmqctl");
    }

    private static bool HasPrefix(ConnectionInfo connection, string prefix) =>
        connection.ClientProvidedName?.StartsWith(prefix, StringComparison.Ordinal) == true;

    private static string GetString(JsonElement row, string name) =>
        row.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : value.ToString();

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
