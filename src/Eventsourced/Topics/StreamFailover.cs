using Eventsourced.Broker;
using Eventsourced.Consuming;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Eventsourced.Topics;

/// <summary>
/// While a stream's leader fails over (its node killed or stopped in a cluster), RabbitMQ 3.10 refuses the stream's
/// consumes for a moment on every node: <c>406 ... does not have a replica on the local node</c> while the members
/// restart, <c>404 NOT_FOUND ... is down</c> for a read from an offset while the leader is gone, or the connection that
/// served the feed dies with its node. Seen for about half a second after a <c>kill -9</c> on a three-node cluster.
/// A subscriber refused so is tried again for up to <see cref="Grace"/> before its client is answered 503, on which a
/// browser's EventSource closes for good.
/// </summary>
internal static class StreamFailover
{
    /// <summary>How long a subscriber refused for a failover is tried again before the refusal is the answer.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(5);

    private const ushort NotFound = 404;
    private const ushort ConnectionForced = 320;
    private const ushort InternalError = 541;

    /// <summary>
    /// Whether <paramref name="refusal"/> is the broker's (a stream consume refused, or a connection lost under it) in a
    /// way that a failover passes: not a refusal that stays (permissions, a queue that is no stream, a topic that may not
    /// be created, a call the broker left unanswered, no broker connection at all).
    /// </summary>
    public static bool MayPass(SubscribeException refusal) =>
        refusal.Failure == SubscribeFailure.BrokerError && refusal.InnerException is { } cause && MayPass(cause);

    internal static bool MayPass(Exception cause) => cause switch
    {
        _ when StreamReplica.NotOnThisNode(cause) => true,
        AlreadyClosedException or BrokerUnavailableException => true,
        OperationInterruptedException { ShutdownReason: { } reason } =>
            reason.Initiator == ShutdownInitiator.Library
            || reason.ReplyCode is NotFound or ConnectionForced or InternalError,
        _ => false,
    };
}
