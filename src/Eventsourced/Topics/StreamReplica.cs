using System.Runtime.ExceptionServices;
using Eventsourced.Broker;
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
    private const ushort ResourceError = 506;

    /// <summary>The broker refused a stream's consume because the connection's node holds no replica of it.</summary>
    /// <remarks>
    /// Also a replica that exists but does not run yet (a node just restarted, or its member restarting while the stream's
    /// leader fails over): <c>506 RESOURCE_ERROR - ... does not have a running local replica</c>.
    /// </remarks>
    public static bool NotOnThisNode(Exception ex) =>
        ex is OperationInterruptedException { ShutdownReason: { } reason }
        && ((reason.ReplyCode == PreconditionFailed && reason.ReplyText.Contains("does not have a replica on the local node", StringComparison.Ordinal))
            || (reason.ReplyCode == ResourceError && reason.ReplyText.Contains("does not have a running local replica", StringComparison.Ordinal)));

    /// <summary>
    /// Leases a channel on a stream consumers' connection (<see cref="BrokerPool.LeaseForStreamAsync"/>) and runs <paramref name="attempt"/> on it; when the broker refuses for want of a replica on that
    /// channel's node (<see cref="NotOnThisNode"/>), the lease is disposed and the next one is taken from a connection to
    /// a node not tried yet, until one serves or no connection is left.
    /// </summary>
    /// <param name="attempt">Owns the lease it is given: keeps it, or disposes it before it returns or throws.</param>
    /// <param name="refusedOn">Told each node that refused, before the next is tried.</param>
    /// <exception cref="BrokerUnavailableException">No broker connection could take a channel, and no node refused yet.</exception>
    /// <exception cref="OperationInterruptedException">The last refusal for want of a replica, when no connection to another node is left.</exception>
    public static async Task<T> OnANodeWithAReplicaAsync<T>(
        BrokerPool pool, Func<ChannelLease, Task<T>> attempt, Action<string>? refusedOn, CancellationToken cancellationToken)
    {
        List<string>? refusing = null;
        Exception? refused = null;
        while (true)
        {
            ChannelLease lease;
            try
            {
                lease = await pool.LeaseForStreamAsync(refusing, cancellationToken);
            }
            catch (BrokerUnavailableException) when (refused is not null)
            {
                // No connection to a node with a replica is left: the last refusal is the answer.
                ExceptionDispatchInfo.Throw(refused);
                throw;
            }

            try
            {
                return await attempt(lease);
            }
            catch (Exception ex) when (NotOnThisNode(ex))
            {
                await lease.DisposeAsync();
                refusedOn?.Invoke(lease.Node);
                (refusing ??= []).Add(lease.Node);
                refused = ex;
            }
        }
    }
}
