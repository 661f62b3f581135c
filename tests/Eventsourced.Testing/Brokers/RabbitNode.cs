using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Eventsourced.Testing.Processes;

namespace Eventsourced.Testing.Brokers;

/// <summary>
/// A private RabbitMQ node run as a child process: its own node name, free loopback ports and
/// a temporary directory (data, logs, Erlang cookie), so tests may stop, kill, freeze and restart it
/// without touching any other broker. Requires RabbitMQ to be installed (Debian: rabbitmq-server).
/// </summary>
public sealed class RabbitNode : IBrokerNode
{
    private readonly SemaphoreSlim _lifecycle = new(1, 1);
    // The launcher (below), which runs the node: killing it kills the node's process tree, also when
    // the test host exits without disposing the node (ServiceProcess sees to that).
    private ServiceProcess? _process;
    private readonly string? _configuration;
    private bool _paused;
    private bool _disposed;

    private RabbitNode(string name, string directory, int amqpPort, int distributionPort, string erlangCookie, string? configuration)
    {
        NodeName = name + "@localhost";
        Directory = directory;
        AmqpPort = amqpPort;
        DistributionPort = distributionPort;
        ErlangCookie = erlangCookie;
        _configuration = configuration;
        Rabbitmqctl = new Rabbitmqctl(NodeName, ErlangCookie);
    }

    /// <summary>Full node name, <c>es-it-XXXXXXXX@localhost</c>.</summary>
    public string NodeName { get; }

    /// <summary>The node's own directory: <c>mnesia/</c>, <c>log/</c>, cookie, pid file. Deleted by <see cref="DisposeAsync"/>.</summary>
    public string Directory { get; }

    public int AmqpPort { get; }

    public int DistributionPort { get; }

    public string ErlangCookie { get; }

    /// <summary><c>amqp://guest:guest@127.0.0.1:PORT/</c>; stays the same across restarts.</summary>
    public string AmqpUrl => $"amqp://guest:guest@127.0.0.1:{AmqpPort}/";

    /// <summary>The <see cref="Brokers.Rabbitmqctl"/> on this machine, talking to this node (it knows the cookie).</summary>
    public Rabbitmqctl Rabbitmqctl { get; }

    IRabbitmqctl IBrokerNode.Rabbitmqctl => Rabbitmqctl;

    /// <summary>How long <see cref="StartAsync"/> waits for the node to boot (typically 5-10 s).</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Whether the node's process is alive (not whether it is ready; a paused node is alive).</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Whether <see cref="PauseAsync"/> stopped the VM (and <see cref="ResumeAsync"/> has not let it go on).</summary>
    public bool IsPaused => _paused && IsRunning;

    /// <summary>The process id of the node's Erlang VM (<c>beam.smp</c>) while it runs, from the pid file the node writes as it boots.</summary>
    public int? VmProcessId => IsRunning && ReadBeamPid() is { } pid && IsAlive(pid) ? pid : null;

    public string LogDirectory => Path.Combine(Directory, "log");

    private string PidFile => Path.Combine(Directory, "beam.pid");

    /// <summary>Picks a fresh node name, two free loopback ports and a temp directory. Nothing runs yet.</summary>
    /// <param name="namePrefix">The node name is <c>PREFIX-RANDOM@localhost</c>.</param>
    /// <param name="erlangCookie">The node's Erlang cookie (nodes of one cluster share one); a random one when null.</param>
    /// <param name="parentDirectory">Where the node's directory goes; <c>$TMPDIR/eventsourced-rabbit</c> when null.</param>
    /// <param name="configuration">Lines added to the node's <c>rabbitmq.conf</c>.</param>
    /// <exception cref="InvalidOperationException">RabbitMQ is not installed.</exception>
    public static RabbitNode Create(
        string namePrefix = "es-it",
        string? erlangCookie = null,
        string? parentDirectory = null,
        string? configuration = null)
    {
        _ = RabbitMqInstallation.Scripts; // fail now, with the install hint, rather than at start
        var id = Convert.ToHexString(RandomNumberGenerator.GetBytes(5)).ToLowerInvariant();
        var name = $"{namePrefix}-{id}";
        var directory = Path.Combine(parentDirectory ?? Path.Combine(Path.GetTempPath(), "eventsourced-rabbit"), name);
        var amqpPort = FreePort.Next();
        int distributionPort;
        do
        {
            distributionPort = FreePort.Next();
        }
        while (distributionPort == amqpPort);
        return new RabbitNode(name, directory, amqpPort, distributionPort,
            erlangCookie ?? Convert.ToHexString(RandomNumberGenerator.GetBytes(20)), configuration);
    }

    /// <summary>Creates and starts a node.</summary>
    public static async Task<RabbitNode> StartNewAsync(string namePrefix = "es-it", CancellationToken cancellationToken = default)
    {
        var node = Create(namePrefix);
        try
        {
            await node.StartAsync(cancellationToken);
            return node;
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts the node (keeping its data from an earlier run) and waits until it accepts AMQP connections.</summary>
    /// <exception cref="TimeoutException">Not ready within <see cref="StartTimeout"/>; the message ends with the node's log.</exception>
    /// <exception cref="InvalidOperationException">The node exited during start-up; the message ends with the node's log.</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _lifecycle.WaitAsync(cancellationToken);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (IsRunning)
            {
                throw new InvalidOperationException($"Node {NodeName} is already running.");
            }
            await ForgetAsync(); // a node that exited by itself
            Launch();
            await WaitUntilReadyAsync(cancellationToken);
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>Stops the node gracefully (<c>rabbitmqctl stop</c>), killing it if it does not stop in time.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        await _lifecycle.WaitAsync(cancellationToken);
        try
        {
            if (!IsRunning)
            {
                return;
            }
            await ResumeVmAsync(cancellationToken); // a frozen VM would not stop
            var stopArguments = File.Exists(PidFile) ? new[] { "stop", PidFile } : ["stop"];
            try
            {
                await Rabbitmqctl.RunAsync(stopArguments, TimeSpan.FromSeconds(60), cancellationToken);
            }
            catch (TimeoutException)
            {
                // Fall through to the kill below.
            }
            if (!await WaitForExitAsync(TimeSpan.FromSeconds(30), cancellationToken))
            {
                KillProcessTree();
                await WaitForExitAsync(TimeSpan.FromSeconds(15), cancellationToken);
            }
            await ForgetAsync();
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>Kills the node at once (SIGKILL to the Erlang VM and its helpers, also a paused one): a crash, not a shutdown.</summary>
    public async Task KillAsync(CancellationToken cancellationToken = default)
    {
        await _lifecycle.WaitAsync(cancellationToken);
        try
        {
            if (_process is null)
            {
                return;
            }
            KillProcessTree();
            if (!await WaitForExitAsync(TimeSpan.FromSeconds(15), cancellationToken))
            {
                throw new InvalidOperationException($"Node {NodeName} (pid {_process.Id}) survived SIGKILL for 15 s.");
            }
            await ForgetAsync();
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>Stops the node gracefully and starts it again; same name, ports and data.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        await StopAsync(cancellationToken);
        await StartAsync(cancellationToken);
    }

    /// <summary>Freezes the node's Erlang VM with SIGSTOP and returns once it is stopped: its sockets stay open, nothing
    /// answers, and the other nodes of a cluster notice only once the distribution tick times out (<c>net_ticktime</c>, 60 s by default).</summary>
    /// <exception cref="InvalidOperationException">The node does not run.</exception>
    public async Task PauseAsync(CancellationToken cancellationToken = default)
    {
        await _lifecycle.WaitAsync(cancellationToken);
        try
        {
            var pid = VmProcessId ?? throw new InvalidOperationException($"Node {NodeName} does not run: nothing to pause.");
            Signals.Send(pid, Signals.Stop);
            _paused = true;
            await WaitForStateAsync(pid, stopped: true, cancellationToken);
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>SIGCONT to the node's Erlang VM after <see cref="PauseAsync"/>; nothing when it is not paused.</summary>
    public async Task ResumeAsync(CancellationToken cancellationToken = default)
    {
        await _lifecycle.WaitAsync(cancellationToken);
        try
        {
            await ResumeVmAsync(cancellationToken);
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>The last lines of the node's logs (start-up output and the node log), for error messages.</summary>
    public string LogTail(int lines = 40)
    {
        var parts = new List<string>();
        foreach (var file in new[] { Path.Combine(LogDirectory, "startup.log"), Path.Combine(LogDirectory, NodeName + ".log") })
        {
            try
            {
                if (File.Exists(file))
                {
                    var all = File.ReadAllLines(file);
                    parts.Add($"---- {file} (last {Math.Min(lines, all.Length)} lines)\n" + string.Join('\n', all.TakeLast(lines)));
                }
            }
            catch (IOException ex)
            {
                parts.Add($"---- {file}: {ex.Message}");
            }
        }
        return parts.Count == 0 ? $"(no logs in {LogDirectory})" : string.Join('\n', parts);
    }

    /// <summary>Kills the node if it runs and deletes its directory.</summary>
    public async ValueTask DisposeAsync()
    {
        await _lifecycle.WaitAsync();
        try
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            if (_process is not null)
            {
                KillProcessTree();
                await WaitForExitAsync(TimeSpan.FromSeconds(15), CancellationToken.None);
                await ForgetAsync();
            }
            // Should a straggler keep writing for longer, the temp directory stays behind.
            await TempDirectories.DeleteAsync(Directory);
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    public override string ToString() => $"{NodeName} at {AmqpUrl}";

    private void Launch()
    {
        var mnesia = Path.Combine(Directory, "mnesia");
        System.IO.Directory.CreateDirectory(mnesia);
        System.IO.Directory.CreateDirectory(LogDirectory);
        System.IO.Directory.CreateDirectory(Path.Combine(Directory, "conf.d"));
        var cookie = Path.Combine(Directory, ".erlang.cookie");
        if (!File.Exists(cookie))
        {
            File.WriteAllText(cookie, ErlangCookie);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(cookie, UnixFileMode.UserRead); // Erlang refuses a cookie others can read
            }
        }
        File.WriteAllText(Path.Combine(Directory, "enabled_plugins"), "[].\n");
        File.WriteAllText(Path.Combine(Directory, "rabbitmq-env.conf"), "");
        File.WriteAllText(Path.Combine(Directory, "rabbitmq.conf"), "log.file.level = info\n" + (_configuration is null ? "" : _configuration.TrimEnd() + "\n"));
        File.Delete(PidFile);
        File.AppendAllText(Path.Combine(LogDirectory, "startup.log"),
            $"==== {DateTime.Now:yyyy-MM-dd HH:mm:ss} start {NodeName} amqp {AmqpPort} dist {DistributionPort}\n");

        // A small shell launcher: all output to the log, no pipe back to the test host (nothing can
        // block on it), and a watchdog that kills the node if the test host dies without disposing it.
        const string Launcher = """
            exec >>"$1" 2>&1 </dev/null
            "$2" &
            node=$!
            while kill -0 "$node" 2>/dev/null; do
                if ! kill -0 "$3" 2>/dev/null; then
                    echo "test host $3 is gone; killing the node"
                    kill -KILL "$(cat "$4" 2>/dev/null)" "$node" 2>/dev/null
                    exit 1
                fi
                sleep 1
            done
            wait "$node"
            """;
        // Nothing from the test environment may redirect or reconfigure the node.
        var environment = new Dictionary<string, string?>();
        foreach (var name in Environment.GetEnvironmentVariables().Keys.OfType<string>().Where(key => key.StartsWith("RABBITMQ_", StringComparison.Ordinal)))
        {
            environment[name] = null;
        }
        environment["HOME"] = Directory;
        environment["RABBITMQ_NODENAME"] = NodeName;
        environment["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1";
        environment["RABBITMQ_NODE_PORT"] = AmqpPort.ToString(CultureInfo.InvariantCulture);
        environment["RABBITMQ_DIST_PORT"] = DistributionPort.ToString(CultureInfo.InvariantCulture);
        environment["RABBITMQ_MNESIA_BASE"] = mnesia;
        environment["RABBITMQ_LOG_BASE"] = LogDirectory;
        environment["RABBITMQ_PID_FILE"] = PidFile;
        environment["RABBITMQ_CONF_ENV_FILE"] = Path.Combine(Directory, "rabbitmq-env.conf");
        environment["RABBITMQ_CONFIG_FILE"] = Path.Combine(Directory, "rabbitmq.conf");
        environment["RABBITMQ_CONFIG_FILES"] = Path.Combine(Directory, "conf.d");
        environment["RABBITMQ_ADVANCED_CONFIG_FILE"] = Path.Combine(Directory, "advanced.config");
        environment["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(Directory, "enabled_plugins");
        // Erlang distribution on loopback only, like AMQP.
        environment["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] = "-kernel inet_dist_use_interface {127,0,0,1}";
        environment["ERL_CRASH_DUMP"] = Path.Combine(LogDirectory, "erl_crash.dump");

        _process = ServiceProcess.Start("/bin/sh",
        [
            "-c", Launcher, "rabbit-node",
            Path.Combine(LogDirectory, "startup.log"),
            RabbitMqInstallation.RabbitmqServer,
            Environment.ProcessId.ToString(CultureInfo.InvariantCulture),
            PidFile,
        ], environment, workingDirectory: Directory);
    }

    private async Task WaitUntilReadyAsync(CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        ProcessResult? last = null;
        while (true)
        {
            if (!IsRunning)
            {
                var code = _process!.ExitCode;
                await ForgetAsync();
                throw new InvalidOperationException(
                    $"RabbitMQ node {NodeName} exited with {code} during start-up (ports {AmqpPort}/{DistributionPort}).\n{LogTail()}");
            }
            var remaining = StartTimeout - stopwatch.Elapsed;
            if (remaining <= TimeSpan.Zero)
            {
                KillProcessTree();
                await WaitForExitAsync(TimeSpan.FromSeconds(15), cancellationToken);
                await ForgetAsync();
                throw new TimeoutException(
                    $"RabbitMQ node {NodeName} not ready after {StartTimeout.TotalSeconds:0} s; killed. "
                    + $"Last `rabbitmqctl await_startup`: {last?.StandardError.Trim()} {last?.StandardOutput.Trim()}\n{LogTail()}");
            }

            // Fails at once while the node has not registered with epmd yet; waits while it boots.
            try
            {
                last = await Rabbitmqctl.AwaitStartupAsync(remaining < TimeSpan.FromSeconds(15) ? remaining : TimeSpan.FromSeconds(15), cancellationToken);
                if (last.Succeeded)
                {
                    return;
                }
            }
            catch (TimeoutException ex)
            {
                last = new ProcessResult($"{Rabbitmqctl} await_startup", -1, "", ex.Message);
            }
            await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken);
        }
    }

    private async Task<bool> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (_process is null)
        {
            return true;
        }
        if (!await _process.TryWaitForExitAsync(timeout, cancellationToken))
        {
            return false;
        }
        // The launcher is gone; make sure the VM it started is too (its pid file names it).
        var beam = ReadBeamPid();
        var deadline = Stopwatch.StartNew();
        while (beam is not null && IsAlive(beam.Value) && deadline.Elapsed < timeout)
        {
            await Task.Delay(100, cancellationToken);
        }
        return beam is null || !IsAlive(beam.Value);
    }

    private void KillProcessTree()
    {
        // The VM first, by its pid file, in case the launcher already lost track of it.
        if (ReadBeamPid() is { } beam && IsAlive(beam))
        {
            try
            {
                using var process = Process.GetProcessById(beam);
                process.Kill(entireProcessTree: true);
            }
            catch (ArgumentException)
            {
            }
            catch (InvalidOperationException)
            {
            }
            catch (System.ComponentModel.Win32Exception)
            {
            }
        }
        _process?.Kill();
    }

    private async Task ResumeVmAsync(CancellationToken cancellationToken)
    {
        if (_paused && VmProcessId is { } pid)
        {
            Signals.Send(pid, Signals.Continue);
            await WaitForStateAsync(pid, stopped: false, cancellationToken);
        }
        _paused = false;
    }

    // A signal takes effect when the kernel next schedules the process: wait until /proc shows it
    // stopped (state T) or running on, so that a paused node really is frozen when PauseAsync returns.
    private async Task WaitForStateAsync(int pid, bool stopped, CancellationToken cancellationToken)
    {
        var patience = Stopwatch.StartNew();
        while (ProcessState(pid) is { } state && (state == 'T') != stopped)
        {
            if (patience.Elapsed > TimeSpan.FromSeconds(10))
            {
                throw new TimeoutException(
                    $"Node {NodeName}: its VM (pid {pid}) is still in state {state} 10 s after SIG{(stopped ? "STOP" : "CONT")}.");
            }
            await Task.Delay(20, cancellationToken);
        }
    }

    private async Task ForgetAsync()
    {
        _paused = false;
        if (_process is not null)
        {
            await _process.DisposeAsync();
            _process = null;
        }
        try
        {
            File.Delete(PidFile);
        }
        catch (IOException)
        {
        }
    }

    private int? ReadBeamPid()
    {
        try
        {
            return int.TryParse(File.ReadAllText(PidFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    // Alive and not a zombie, and still a process started with this node's environment? Checking
    // /proc/PID/stat is enough here: our pid file is deleted once the node is forgotten.
    private static bool IsAlive(int pid) => ProcessState(pid) is { } state && state is not ('Z' or 'X');

    // The state letter of /proc/PID/stat (R, S, D, T stopped, Z zombie...), or null when there is no such process.
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
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
