using Eventsourced.Testing.Processes;

namespace Eventsourced.Testing.Brokers;

/// <summary>
/// The <c>rabbitmqctl</c> on this machine, run as <c>rabbitmqctl -n NODE</c> against one node (a
/// <see cref="RabbitNode"/>, a cluster's node or an external broker's). Calls are bounded by a timeout
/// and limited in concurrency (each call starts an Erlang VM).
/// </summary>
public sealed class Rabbitmqctl : IRabbitmqctl
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
    /// <exception cref="TimeoutException">Not finished within <paramref name="timeout"/> (default <see cref="Timeout"/>); killed.</exception>
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
}
