using Eventsourced.Broker;
using Eventsourced.Consuming;
using RabbitMQ.Client.Exceptions;

namespace Eventsourced.Topics;

/// <summary>
/// Keeps a gateway from consuming a stream that another gateway is creating at that moment. RabbitMQ 3.10 lists a
/// stream (a passive declare, or a declare of another connection, succeeds) before its stream coordinator knows it
/// and before its replica runs: a consume then is refused with <c>406 ... does not have a replica on the local
/// node</c>, or crashes the channel (<c>stream_not_found</c>), which closes the whole connection with <c>541
/// INTERNAL_ERROR</c>, and every stream on it (seen with two gateways opening a new topic at once). The creating
/// declare itself is answered only once the stream runs. So a gateway that creates a stream holds this lock (an
/// exclusive queue of its connection) for the length of its declare, and a gateway that finds the stream waits
/// until no other connection holds it.
/// </summary>
/// <remarks>
/// Name: <see cref="QueueLock.Prefix"/> and the hash of a newline and the stream's name: no queue name has a control
/// character, so no subscriber's queue lock is a stream's. A broker user without configure on those names gets
/// <c>403</c>, and the gateway then goes on without the lock, as before it had one.
/// </remarks>
internal static class StreamCreationLock
{
    private const ushort AccessRefused = 403;
    private const ushort ResourceLocked = 405;

    /// <summary>The lock queue's name for <paramref name="stream"/>.</summary>
    public static string NameFor(string stream) => QueueLock.NameFor(LockKey(stream));

    /// <summary>What the lock is <see cref="QueueLock"/>'s lock of: the stream's name after a newline, which no queue's name has.</summary>
    private static string LockKey(string stream) => "\n" + stream;

    /// <summary>
    /// Takes the lock of <paramref name="stream"/> for <paramref name="lease"/>'s connection: true if taken, false if
    /// another connection holds it, null if the broker user may not declare it (no lock then). The lease's channel is
    /// reopened after a refusal.
    /// </summary>
    public static async Task<bool?> TryTakeAsync(ChannelLease lease, string stream, CancellationToken cancellationToken)
    {
        try
        {
            // Not cancellable: a lock declared whose taker never learned of it would stay for its expiry. QueueLock's
            // arguments: classic whatever the vhost's default, and dropped if its creator vanished without deleting it
            // while its connection lives on (exclusive: it goes with its connection anyway).
            await lease.Channel.QueueDeclareAsync(NameFor(stream), durable: false, exclusive: true, autoDelete: false, QueueLock.Arguments, cancellationToken: CancellationToken.None);
            return true;
        }
        catch (OperationInterruptedException ex) when (ex.ShutdownReason is { ReplyCode: ResourceLocked or AccessRefused } reason)
        {
            await lease.ReopenAsync(cancellationToken);
            return reason.ReplyCode == ResourceLocked ? false : null;
        }
    }

    /// <summary>Gives up the lock taken by <see cref="TryTakeAsync"/>.</summary>
    public static Task ReleaseAsync(ChannelLease lease, string stream) =>
        QueueLock.ReleaseAsync(lease.Channel, LockKey(stream), CancellationToken.None);

    /// <summary>Gives up the lock after a failed declare, on a new channel: the failure may have closed the lease's.</summary>
    public static async Task ReleaseQuietlyAsync(ChannelLease lease, string stream)
    {
        try
        {
            await lease.ReopenAsync(CancellationToken.None);
            await ReleaseAsync(lease, stream);
        }
        catch (Exception ex) when (ex is OperationInterruptedException or AlreadyClosedException or BrokerUnavailableException or IOException
            or OperationCanceledException or TimeoutException or ChannelAllocationException)
        {
            // The connection is gone, and the lock with it; or it expires.
        }
    }

    /// <summary>True when no other connection is creating <paramref name="stream"/> (or the lock cannot be told).</summary>
    public static async Task<bool> NoneCreatingAsync(ChannelLease lease, string stream, CancellationToken cancellationToken)
    {
        var taken = await TryTakeAsync(lease, stream, cancellationToken);
        if (taken == true)
        {
            await ReleaseAsync(lease, stream);
        }

        return taken != false;
    }
}
