using System.Security.Cryptography;
using Testcontainers.RabbitMq;

namespace Eventsourced.Testing.Brokers;

/// <summary>
/// A private RabbitMQ node in a Docker container, started through Testcontainers: what <see cref="RabbitNode"/>
/// is on machines without Docker, for machines with it (<see cref="BrokerChoice"/> picks). Tests may stop,
/// kill, pause and restart it like a <see cref="RabbitNode"/>; what differs:
/// <list type="bullet">
/// <item>Ports: the AMQP port is published on a host port picked here (<see cref="FreePort"/>, so on the local
/// machine's loopback), not one Docker picks, because Docker picks a new one at every start and a restarted
/// broker must keep its URL (a gateway under test reconnects to the same address).</item>
/// <item>Stop is <c>docker stop</c>: SIGTERM to the image's start script, which stops RabbitMQ; Docker sends
/// SIGKILL after 10 s. Kill is SIGKILL to the Erlang VM from inside (the VM is a child of the start script,
/// so the signal reaches it), after which the container exits. Restarting starts the same container again: the
/// same node name (<c>rabbit@</c> the container's host name) and data (the image's volume).</item>
/// <item>Pause freezes the whole container (<c>docker pause</c>, the cgroup freezer), not only the VM with SIGSTOP.</item>
/// <item>The node's name, cookie and logs are the container's; the user is Testcontainers' <c>rabbitmq</c>, not <c>guest</c>.</item>
/// </list>
/// </summary>
public sealed class RabbitContainer : IBrokerNode
{
    /// <summary>
    /// RabbitMQ 3.10.8, the version of Debian 12's <c>rabbitmq-server</c> that the process path and CI run, so both
    /// paths test against the same broker (queue arguments, quorum queues and streams, rabbitmqctl's JSON, as the
    /// shared NOTES record them for 3.10.8). The plain image: the tests need rabbitmqctl, not the management UI.
    /// </summary>
    public const string Image = "rabbitmq:3.10.8";

    private readonly RabbitMqContainer _container;
    private readonly SemaphoreSlim _lifecycle = new(1, 1);
    private string? _amqpUrl;
    private bool _running;
    private bool _paused;
    private bool _disposed;

    private RabbitContainer(RabbitMqContainer container, string name, int hostPort)
    {
        _container = container;
        Name = name;
        HostPort = hostPort;
        Rabbitmqctl = new ContainerRabbitmqctl(container, name);
    }

    /// <summary>The container's name, <c>PREFIX-RANDOM</c>.</summary>
    public string Name { get; }

    /// <summary>The host port the container's AMQP port 5672 is published on; the same across restarts.</summary>
    public int HostPort { get; }

    /// <summary>The URL Testcontainers gives for the container (its user and password, the Docker host, the published port), known from the first start on.</summary>
    /// <exception cref="InvalidOperationException">The container has never run.</exception>
    public string AmqpUrl => _amqpUrl ?? throw new InvalidOperationException($"Container {Name} has not been started yet.");

    /// <summary>rabbitmqctl inside the container.</summary>
    public IRabbitmqctl Rabbitmqctl { get; }

    public bool IsRunning => _running;

    /// <summary>How long <see cref="StartAsync"/> waits (the first start may pull the image).</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Configures a container with a fresh name and host port. Nothing runs yet.</summary>
    public static RabbitContainer Create(string namePrefix = "es-it")
    {
        var name = $"{namePrefix}-{Convert.ToHexString(RandomNumberGenerator.GetBytes(5)).ToLowerInvariant()}";
        var hostPort = FreePort.Next();
        var container = new RabbitMqBuilder(Image)
            .WithName(name)
            .WithPortBinding(hostPort, RabbitMqBuilder.RabbitMqPort)
            .Build();
        return new RabbitContainer(container, name, hostPort);
    }

    /// <summary>Creates and starts a container.</summary>
    public static async Task<RabbitContainer> StartNewAsync(string namePrefix = "es-it", CancellationToken cancellationToken = default)
    {
        var broker = Create(namePrefix);
        try
        {
            await broker.StartAsync(cancellationToken);
            return broker;
        }
        catch
        {
            await broker.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts the container (again: with its data) and waits until RabbitMQ has booted and accepts AMQP connections.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _lifecycle.WaitAsync(cancellationToken);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_running)
            {
                throw new InvalidOperationException($"Container {Name} is already running.");
            }
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            bound.CancelAfter(StartTimeout);
            // Testcontainers waits for "Server startup complete" in the log written since the last stop.
            await _container.StartAsync(bound.Token);
            _running = true;
            _amqpUrl ??= _container.GetConnectionString();
            var booted = await Rabbitmqctl.AwaitStartupAsync(TimeSpan.FromSeconds(60), bound.Token);
            if (!booted.Succeeded)
            {
                throw new InvalidOperationException($"RabbitMQ in container {Name} did not boot: {booted}");
            }
            await using var probe = await AmqpTestClient.ConnectAsync(AmqpUrl, $"{Name}-probe", TimeSpan.FromSeconds(30), bound.Token);
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary><c>docker stop</c>: RabbitMQ shuts down gracefully (SIGKILL after Docker's 10 s).</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        await _lifecycle.WaitAsync(cancellationToken);
        try
        {
            if (!_running)
            {
                return;
            }
            await UnpauseAsync(cancellationToken); // a frozen container would not stop gracefully
            await _container.StopAsync(cancellationToken);
            _running = false;
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>SIGKILL to the Erlang VM inside the container; the container exits with it.</summary>
    public async Task KillAsync(CancellationToken cancellationToken = default)
    {
        await _lifecycle.WaitAsync(cancellationToken);
        try
        {
            if (!_running)
            {
                return;
            }
            await UnpauseAsync(cancellationToken); // docker exec needs a running container
            var pid = await Rabbitmqctl.VmProcessIdAsync(cancellationToken);
            var killed = await _container.ExecAsync(["/bin/sh", "-c", $"kill -KILL {pid}"], cancellationToken);
            if (killed.ExitCode != 0)
            {
                throw new InvalidOperationException($"kill -KILL {pid} in container {Name} failed: {killed.Stderr} {killed.Stdout}");
            }
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            bound.CancelAfter(TimeSpan.FromSeconds(30));
            await _container.GetExitCodeAsync(bound.Token); // docker wait: the start script ends with the VM
            // Already exited, so this only records the stop: the next start then waits for a new start-up line.
            await _container.StopAsync(cancellationToken);
            _running = false;
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        await StopAsync(cancellationToken);
        await StartAsync(cancellationToken);
    }

    /// <summary><c>docker pause</c>: every process of the container frozen.</summary>
    /// <exception cref="InvalidOperationException">The container does not run.</exception>
    public async Task PauseAsync(CancellationToken cancellationToken = default)
    {
        await _lifecycle.WaitAsync(cancellationToken);
        try
        {
            if (!_running)
            {
                throw new InvalidOperationException($"Container {Name} does not run: nothing to pause.");
            }
            await _container.PauseAsync(cancellationToken);
            _paused = true;
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    public async Task ResumeAsync(CancellationToken cancellationToken = default)
    {
        await _lifecycle.WaitAsync(cancellationToken);
        try
        {
            await UnpauseAsync(cancellationToken);
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>Removes the container (stopping it first); Testcontainers' reaper removes it too if the test host dies.</summary>
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
            _running = false;
            await _container.DisposeAsync();
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    public override string ToString() => $"{Image} container {Name}" + (_amqpUrl is null ? "" : $" at {_amqpUrl}");

    private async Task UnpauseAsync(CancellationToken cancellationToken)
    {
        if (_paused)
        {
            await _container.UnpauseAsync(cancellationToken);
            _paused = false;
        }
    }
}
