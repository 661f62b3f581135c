using RabbitMQ.Client.Exceptions;

namespace Eventsourced.Topics;

/// <summary>
/// RabbitMQ 3.10 serves a stream's consumers over AMQP 0-9-1 only on the nodes that hold a replica of the stream. A
/// consume through a connection to any other node (one that joined the cluster after the stream was declared, one of
/// five nodes when the stream has three replicas, or a node just restarted whose replica has not started yet) is
/// refused with <c>406 PRECONDITION_FAILED - ... does not have a replica on the local node</c>, while a connection to
/// another node of the cluster may serve it.
/// </summary>
internal static class StreamReplica
{
    private const ushort PreconditionFailed = 406;

    /// <summary>The broker refused a stream's consume because the connection's node holds no replica of it.</summary>
    public static bool NotOnThisNode(Exception ex) =>
        ex is OperationInterruptedException { ShutdownReason: { ReplyCode: PreconditionFailed } reason }
        && reason.ReplyText.Contains("does not have a replica on the local node", StringComparison.Ordinal);
}
