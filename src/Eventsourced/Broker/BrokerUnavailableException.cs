namespace Eventsourced.Broker;

/// <summary>No broker connection can take another channel right now; the subscriber gets 503.</summary>
internal class BrokerUnavailableException(string reason, Exception? inner = null)
    : Exception(reason, inner)
{
}

/// <summary>
/// The broker refuses publishes on the publishing connection for now (<c>connection.blocked</c>, a memory or disk
/// alarm): a publish would wait until the alarm clears, so it is refused at once instead.
/// </summary>
internal sealed class BrokerBlockedException(string brokerReason)
    : BrokerUnavailableException($"the broker refuses publishes for now (resource alarm: {brokerReason})")
{
    /// <summary>What the broker said (<c>low on memory</c>, <c>low on disk</c>).</summary>
    public string BrokerReason { get; } = brokerReason;
}
