namespace Eventsourced.Consuming;

internal enum SubscribeFailure
{
    /// <summary>Another subscriber holds the queue (exclusive consumer): 503.</summary>
    Busy,

    /// <summary>No broker connection can take a channel: 503.</summary>
    BrokerUnavailable,

    /// <summary>The broker refused an operation for another reason: 503.</summary>
    BrokerError,
}

internal sealed class SubscribeException(SubscribeFailure failure, string reason, Exception? inner = null)
    : Exception(reason, inner)
{
    public SubscribeFailure Failure { get; } = failure;

    /// <summary>The broker connection died under the attempt: another connection may serve it.</summary>
    public bool ConnectionLost { get; init; }
}
