namespace Eventsourced.Broker;

/// <summary>No broker connection can take another channel right now; the subscriber gets 503.</summary>
internal sealed class BrokerUnavailableException(string reason, Exception? inner = null)
    : Exception(reason, inner)
{
}
