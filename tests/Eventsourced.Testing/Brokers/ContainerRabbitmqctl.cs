using DotNet.Testcontainers.Containers;
using Eventsourced.Testing.Processes;

namespace Eventsourced.Testing.Brokers;

/// <summary>
/// <c>rabbitmqctl</c> inside a broker's container (<c>docker exec</c>, through Testcontainers' <c>ExecAsync</c>):
/// the image's own CLI, which knows its node and cookie.
/// </summary>
/// <param name="container">The broker's container, started.</param>
/// <param name="containerName">Its name, for messages.</param>
public sealed class ContainerRabbitmqctl(IContainer container, string containerName) : IRabbitmqctl
{
    /// <summary>How long one call may take unless the caller says otherwise.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <remarks>On a timeout the call is abandoned; Docker's exec API cannot kill what it started, so it may finish later.</remarks>
    public async Task<ProcessResult> RunAsync(IEnumerable<string> arguments, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        string[] command = ["rabbitmqctl", "-q", .. arguments];
        var description = $"docker exec {containerName} {string.Join(' ', command)}";
        var limit = timeout ?? Timeout;
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bound.CancelAfter(limit);
        try
        {
            var result = await container.ExecAsync(command, bound.Token);
            return new ProcessResult(description, (int)(result.ExitCode ?? -1), result.Stdout, result.Stderr);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"`{description}` did not finish within {limit.TotalSeconds:0.#} s.");
        }
    }

    public override string ToString() => $"rabbitmqctl in container {containerName}";
}
