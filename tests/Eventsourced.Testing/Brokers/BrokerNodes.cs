namespace Eventsourced.Testing.Brokers;

/// <summary>Starts the brokers the tests own, in the runtime <see cref="BrokerChoice"/> picked.</summary>
public static class BrokerNodes
{
    /// <summary>A started node: a <see cref="RabbitNode"/> process or a <see cref="RabbitContainer"/>, named <c>PREFIX-RANDOM</c>.</summary>
    public static async Task<IBrokerNode> StartAsync(BrokerRuntime runtime, string namePrefix, CancellationToken cancellationToken = default) =>
        runtime switch
        {
            BrokerRuntime.Process => await RabbitNode.StartNewAsync(namePrefix, cancellationToken),
            BrokerRuntime.Container => await RabbitContainer.StartNewAsync(namePrefix, cancellationToken),
            _ => throw new ArgumentOutOfRangeException(nameof(runtime), runtime, "unknown broker runtime"),
        };
}
