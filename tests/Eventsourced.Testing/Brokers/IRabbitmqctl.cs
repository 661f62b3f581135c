using Eventsourced.Testing.Processes;

namespace Eventsourced.Testing.Brokers;

/// <summary>
/// <c>rabbitmqctl</c> for one node, however the node is reached: the CLI on this machine
/// (<see cref="Rabbitmqctl"/>: a node run as a process, or an external broker) or inside the broker's
/// container (<see cref="ContainerRabbitmqctl"/>). What tests ask of it (queues, connections, channels,
/// stop_app, cluster status...) are the extension methods of <see cref="RabbitmqctlCommands"/>, the same
/// for every implementation.
/// </summary>
public interface IRabbitmqctl
{
    /// <summary>Runs <c>rabbitmqctl -q ARGUMENTS</c> against the node and returns whatever it did.</summary>
    /// <param name="timeout">How long the call may take; the implementation's default when null.</param>
    /// <exception cref="TimeoutException">The call did not finish in time (and was killed).</exception>
    Task<ProcessResult> RunAsync(IEnumerable<string> arguments, TimeSpan? timeout = null, CancellationToken cancellationToken = default);
}
