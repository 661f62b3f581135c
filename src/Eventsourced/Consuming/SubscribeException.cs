namespace Eventsourced.Consuming;

internal enum SubscribeFailure
{
    /// <summary>Another subscriber holds the queue (exclusive consumer): 503.</summary>
    Busy,

    /// <summary>No broker connection can take a channel: 503.</summary>
    BrokerUnavailable,

    /// <summary>The broker refused an operation for another reason: 503.</summary>
    BrokerError,

    /// <summary>What is asked for does not exist and may not be created (a topic not in <c>topics.create</c>): 404.</summary>
    NotFound,

    /// <summary>The gateway's own limits refuse it (no more topics may be created): 403.</summary>
    Forbidden,

    /// <summary>The name exists as something else (a topic name that is a queue, not a stream): 409.</summary>
    Conflict,

    /// <summary>
    /// The queue exists with other arguments than the gateway declares (another application's, most likely) and
    /// <c>queue.adopt_existing</c> is off: 403.
    /// </summary>
    QueueRefused,

    /// <summary>
    /// A value of the request cannot be used with what the broker has (a topic exchange's wildcard from the request in the
    /// routing key of an exchange that exists with another type than <c>queue.bind</c> says): 400.
    /// </summary>
    BadRequest,
}

internal class SubscribeException(SubscribeFailure failure, string reason, Exception? inner = null)
    : Exception(reason, inner)
{
    public SubscribeFailure Failure { get; } = failure;

    /// <summary>
    /// What the client is told. The message may quote the broker (user names, node addresses, queue arguments):
    /// that is for the log, so a refusal that carries such detail sets a plain reason here.
    /// </summary>
    public string ClientReason { get; init; } = reason;

    /// <summary>The broker connection died under the attempt: another connection may serve it.</summary>
    public bool ConnectionLost { get; init; }
}
