namespace Eventsourced.Testing.Brokers;

/// <summary>
/// A RabbitMQ node the tests started themselves and may disturb, however it runs: a process on this machine
/// (<see cref="RabbitNode"/>) or a container through Testcontainers (<see cref="RabbitContainer"/>).
/// </summary>
public interface IBrokerNode : IAsyncDisposable
{
    /// <summary>Where the node listens, with credentials: <c>amqp://user:pass@host:port/</c>. The same after a restart.</summary>
    string AmqpUrl { get; }

    /// <summary><c>rabbitmqctl</c> against this node.</summary>
    IRabbitmqctl Rabbitmqctl { get; }

    /// <summary>Whether the node runs (started and neither stopped nor killed since; a paused node runs), not whether it is ready.</summary>
    bool IsRunning { get; }

    /// <summary>Starts the node, with the data it had, and waits until it has booted.</summary>
    Task StartAsync(CancellationToken cancellationToken = default);

    /// <summary>Stops the node gracefully (a shutdown: clients are told), killing it if it does not stop in time.</summary>
    Task StopAsync(CancellationToken cancellationToken = default);

    /// <summary>SIGKILL to the node's Erlang VM: a crash, clients are not told; the node keeps its data for <see cref="StartAsync"/>.</summary>
    Task KillAsync(CancellationToken cancellationToken = default);

    /// <summary><see cref="StopAsync"/>, then <see cref="StartAsync"/>.</summary>
    Task RestartAsync(CancellationToken cancellationToken = default);

    /// <summary>Freezes the node (its VM gets no CPU): connections stay open, nothing answers. Undo with <see cref="ResumeAsync"/>.</summary>
    Task PauseAsync(CancellationToken cancellationToken = default);

    /// <summary>Lets a paused node run on; nothing happens when it is not paused.</summary>
    Task ResumeAsync(CancellationToken cancellationToken = default);
}
