using System.Security.Cryptography;
using System.Text;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Eventsourced.Consuming;

/// <summary>
/// The broker-side arbiter for queues that do not enforce an exclusive consumer (quorum queues): an exclusive
/// lock queue per subscribed queue, declared and consumed (exclusively) on the subscription's channel. Declaring
/// it from another connection while it exists fails with 405 RESOURCE_LOCKED, whichever gateway instance tries;
/// on the same connection the declare succeeds and the exclusive consume fails with 403 instead. It is
/// auto-delete, so the broker drops it when the subscription's channel closes (its consumer goes), and
/// exclusive, so the broker drops it when the connection dies. A lock whose subscriber never got as far as
/// consuming it expires after <see cref="UnusedExpiry"/>.
/// </summary>
/// <remarks>
/// Name: <see cref="Prefix"/> and the lowercase hex SHA-256 of the queue name's UTF-8 bytes, 82 bytes whatever
/// the queue name's length (at most 255), never starting with the broker's reserved <c>amq.</c>. Subscribers
/// may not name a queue starting with <see cref="Prefix"/> (400), so no pattern can produce a lock's name.
/// </remarks>
internal static class QueueLock
{
    /// <summary>The reserved start of every lock queue's name.</summary>
    public const string Prefix = Naming.QueueNameResolver.ReservedPrefix;

    /// <summary>Safety net for a lock declared but never consumed (its subscriber gave up in between).</summary>
    public static readonly TimeSpan UnusedExpiry = TimeSpan.FromSeconds(10);

    /// <summary>A lock queue's arguments: classic, dropped <see cref="UnusedExpiry"/> after its last use.</summary>
    internal static readonly Dictionary<string, object?> Arguments = new()
    {
        // Always classic: an exclusive queue cannot be a quorum queue, whatever the vhost's default type.
        ["x-queue-type"] = "classic",
        ["x-expires"] = (int)UnusedExpiry.TotalMilliseconds,
    };

    // The lock of subscribers on shared channels: no consumer holds it (a refused consume would close the shared
    // channel), so it neither expires nor auto-deletes; it goes when its subscriber deletes it or its connection closes.
    private static readonly Dictionary<string, object?> HeldArguments = new()
    {
        ["x-queue-type"] = "classic",
    };

    /// <summary>The lock queue's name for <paramref name="queueName"/>.</summary>
    public static string NameFor(string queueName) =>
        Prefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(queueName)));

    /// <summary>
    /// Takes the lock of <paramref name="queueName"/> for as long as <paramref name="channel"/> stays open.
    /// A 405 (another connection holds it), 403 (another channel of this connection does) or 404 (it was held and
    /// vanished in between) <see cref="RabbitMQ.Client.Exceptions.OperationInterruptedException"/> means busy; the
    /// channel is dead then. If the lock queue is deleted while held, <paramref name="holder"/> ends.
    /// </summary>
    public static async Task AcquireAsync(IChannel channel, string queueName, SubscriberConsumer holder)
    {
        var name = NameFor(queueName);
        // Not cancellable: a lock declared whose consume was never sent would stay until UnusedExpiry.
        await channel.QueueDeclareAsync(name, durable: false, exclusive: true, autoDelete: true, Arguments, cancellationToken: CancellationToken.None);
        await channel.BasicConsumeAsync(
            name, autoAck: true, consumerTag: string.Empty, noLocal: false, exclusive: true,
            arguments: null, consumer: new LockConsumer(holder), cancellationToken: CancellationToken.None);
    }

    /// <summary>
    /// Takes the lock of <paramref name="queueName"/> for the connection of <paramref name="channel"/>, until
    /// <see cref="ReleaseAsync"/> or the connection closes: for subscribers whose consumer is on a shared channel.
    /// Another connection holding it makes the declare fail with 405 (or 406 if it holds it as
    /// <see cref="AcquireAsync"/> does), and the channel is dead then. The connection that holds it declares it
    /// again without error: <see cref="Broker.ConnectionSlot.TryHoldQueue"/> arbitrates there.
    /// </summary>
    public static Task HoldAsync(IChannel channel, string queueName) =>
        // Not cancellable: a lock declared whose subscriber never learned of it would stay as long as the connection.
        channel.QueueDeclareAsync(NameFor(queueName), durable: false, exclusive: true, autoDelete: false, HeldArguments, cancellationToken: CancellationToken.None);

    /// <summary>Gives up a lock taken by <see cref="HoldAsync"/>.</summary>
    public static Task ReleaseAsync(IChannel channel, string queueName, CancellationToken cancellationToken) =>
        channel.QueueDeleteAsync(NameFor(queueName), ifUnused: false, ifEmpty: false, cancellationToken: cancellationToken);

    /// <summary>Holds the lock queue (its consumer keeps it from being auto-deleted); nothing is ever published to it.</summary>
    private sealed class LockConsumer(SubscriberConsumer holder) : IAsyncBasicConsumer
    {
        public IChannel? Channel => holder.Channel;

        public Task HandleBasicCancelAsync(string consumerTag, CancellationToken cancellationToken = default)
        {
            // Someone deleted the lock: the subscription no longer holds its queue alone, so it ends.
            holder.Complete(SubscriptionEndReason.ConsumerCancelled);
            return Task.CompletedTask;
        }

        public Task HandleBasicDeliverAsync(
            string consumerTag, ulong deliveryTag, bool redelivered, string exchange, string routingKey,
            IReadOnlyBasicProperties properties, ReadOnlyMemory<byte> body, CancellationToken cancellationToken = default) =>
            Task.CompletedTask;

        public Task HandleChannelShutdownAsync(object channel, ShutdownEventArgs reason) => Task.CompletedTask;

        public Task HandleBasicCancelOkAsync(string consumerTag, CancellationToken cancellationToken = default) => Task.CompletedTask;

        public Task HandleBasicConsumeOkAsync(string consumerTag, CancellationToken cancellationToken = default) => Task.CompletedTask;
    }
}
