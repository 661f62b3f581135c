using System.Collections.Concurrent;
using System.Threading.Channels;
using Eventsourced.Broker;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Eventsourced.Consuming;

/// <summary>
/// One subscriber's hold on its own queue: a leased channel, the queue declared, and an exclusive consumer on it.
/// The broker arbitrates: of any number of simultaneous subscribers, across all gateway instances, exactly one
/// gets through. On a classic queue the exclusive consume does it (the others get 403); a quorum queue accepts
/// any number of "exclusive" consumers, so there the subscriber first takes the queue's <see cref="QueueLock"/>
/// (the others get 405). A subscriber that finds its queue held keeps trying for <c>queue.busy_grace</c>, since
/// the holder may be on its way out.
/// </summary>
internal sealed class QueueSubscription : ISubscription
{
    private const ushort AccessRefused = 403;
    private const ushort NotFound = 404;
    private const ushort ResourceLocked = 405;
    private const ushort PreconditionFailed = 406;
    private const int MaxConnectionAttempts = 3;
    private const string BusyReason = "queue is already being consumed by another subscriber";

    /// <summary>The first wait after finding the queue held; it doubles up to <see cref="MaxBusyRetry"/>.</summary>
    private static readonly TimeSpan FirstBusyRetry = TimeSpan.FromMilliseconds(25);
    private static readonly TimeSpan MaxBusyRetry = TimeSpan.FromMilliseconds(400);
    private static readonly ConcurrentDictionary<string, byte> ReportedMismatches = new(StringComparer.Ordinal);

    private readonly ChannelLease _lease;

    private QueueSubscription(ChannelLease lease, SubscriberConsumer consumer, string queueName)
    {
        _lease = lease;
        Consumer = consumer;
        Name = queueName;
    }

    public SubscriberConsumer Consumer { get; }

    public string Name { get; }

    public string Node => _lease.Node;

    public ChannelReader<OutboundItem> Items => Consumer.Reader;

    public SubscriptionEndReason? EndReason => Consumer.EndReason;

    /// <summary>
    /// Declares and consumes <paramref name="queueName"/>. A queue held by another subscriber is tried again for
    /// <c>queue.busy_grace</c> before <see cref="SubscribeFailure.Busy"/>; a connection that dies under the
    /// attempt is replaced by another one that is up.
    /// </summary>
    /// <param name="limits">
    /// <c>queue.max_message_bytes</c> and <c>queue.max_buffered_bytes</c> (the prefetch is lowered to keep the bytes in
    /// flight under the bound); null: no size limit.
    /// </param>
    /// <exception cref="SubscribeException">Refused: busy, no broker connection, a queue of other arguments, or the broker said no.</exception>
    public static async Task<QueueSubscription> OpenAsync(
        BrokerPool pool, string queueName, QueueOptions options, IReadOnlyList<ResolvedBinding> bindings, IFrameFormat format, ILogger logger,
        CancellationToken cancellationToken = default, MessageLimits? limits = null)
    {
        var time = pool.Time;
        var started = time.GetTimestamp();
        var grace = TimeSpan.FromSeconds(options.BusyGraceSeconds);
        var retry = FirstBusyRetry;
        var connectionAttempts = 0;
        while (true)
        {
            try
            {
                return await OpenOnceAsync(pool, queueName, options, bindings, format, logger, limits, cancellationToken);
            }
            catch (SubscribeException ex) when (ex.Failure == SubscribeFailure.Busy && grace - time.GetElapsedTime(started) > TimeSpan.Zero)
            {
                var remaining = grace - time.GetElapsedTime(started);
                await Task.Delay(retry < remaining ? retry : remaining, time, cancellationToken);
                retry = retry * 2 < MaxBusyRetry ? retry * 2 : MaxBusyRetry;
            }
            catch (SubscribeException ex) when (ex.ConnectionLost && ++connectionAttempts < MaxConnectionAttempts && pool.ConnectionsUp > 0)
            {
                // Its node went down under this attempt: the next one leases on a connection that is up.
            }
        }
    }

    private static async Task<QueueSubscription> OpenOnceAsync(
        BrokerPool pool, string queueName, QueueOptions options, IReadOnlyList<ResolvedBinding> bindings, IFrameFormat format, ILogger logger,
        MessageLimits? limits, CancellationToken cancellationToken)
    {
        ChannelLease lease;
        try
        {
            lease = await pool.LeaseAsync(cancellationToken);
        }
        catch (BrokerUnavailableException ex)
        {
            // The pool has logged which node failed how; the client learns no node address.
            throw new SubscribeException(SubscribeFailure.BrokerUnavailable, ex.Message, ex)
            {
                ClientReason = pool.UnavailableReason,
            };
        }

        var prefetch = Prefetch(options, limits);
        SubscriberConsumer NewConsumer(IChannel channel) => new(channel, prefetch, format, limits, queueName, () => lease.ConnectionOpen);
        try
        {
            var channel = lease.Channel;
            await channel.BasicQosAsync(0, prefetch, global: false, cancellationToken);
            var consumer = NewConsumer(channel);
            var locked = false;
            if (options.IsQuorum)
            {
                // The lock first: only its winner touches the queue. Subscribers racing to declare and consume a
                // new quorum queue make RabbitMQ 3.10 fail a consume with an internal error (noproc) that
                // closes the whole connection, every stream on it with it.
                await LockAsync(channel, queueName, consumer);
                locked = true;
            }

            var asConfigured = true;
            try
            {
                await channel.QueueDeclareAsync(
                    queueName, durable: true, exclusive: false, autoDelete: false,
                    arguments: QueueArguments(options), cancellationToken: cancellationToken);
            }
            catch (OperationInterruptedException ex) when (ReplyCode(ex) == PreconditionFailed)
            {
                // The queue exists with other arguments (declared by someone else, or under another queue.expires
                // or queue.type): refused unless queue.adopt_existing, then consumed as it is.
                if (!options.AdoptExisting)
                {
                    throw new SubscribeException(SubscribeFailure.QueueRefused, $"queue {queueName} exists with other arguments: {Describe(ex)}", ex)
                    {
                        ClientReason = "queue is not available",
                    };
                }

                if (ReportedMismatches.Count < 10_000 && ReportedMismatches.TryAdd(queueName, 0))
                {
                    ConsumingLog.QueueArgumentsDiffer(logger, queueName, ex.ShutdownReason?.ReplyText ?? ex.Message);
                }

                asConfigured = false;
                // The channel is dead, and a lock taken on it went with it.
                channel = await lease.ReopenAsync(cancellationToken);
                await channel.BasicQosAsync(0, prefetch, global: false, cancellationToken);
                consumer = NewConsumer(channel);
                locked = false;
                await channel.QueueDeclarePassiveAsync(queueName, cancellationToken);
            }

            if (bindings.Count > 0)
            {
                var declared = channel;
                channel = await QueueBindings.ApplyAsync(lease, queueName, bindings, logger, cancellationToken);
                if (!ReferenceEquals(channel, declared))
                {
                    // An exchange of another type closed the channel: the consumer and any lock went with it.
                    await channel.BasicQosAsync(0, prefetch, global: false, cancellationToken);
                    consumer = NewConsumer(channel);
                    locked = false;
                }
            }

            if (!locked && (options.IsQuorum || !asConfigured))
            {
                // A quorum queue, or one of unknown type: the exclusive consume below may not arbitrate.
                await LockAsync(channel, queueName, consumer);
            }
            try
            {
                await channel.BasicConsumeAsync(
                    queueName, autoAck: false, consumerTag: string.Empty, noLocal: false, exclusive: true,
                    arguments: null, consumer: consumer, cancellationToken: cancellationToken);
            }
            catch (OperationInterruptedException ex) when (ReplyCode(ex) is AccessRefused or ResourceLocked)
            {
                throw new SubscribeException(SubscribeFailure.Busy, BusyReason, ex);
            }

            return new QueueSubscription(lease, consumer, queueName);
        }
        catch (SubscribeException)
        {
            await lease.DisposeAsync();
            throw;
        }
        catch (OperationInterruptedException ex) when (ReplyCode(ex) == ResourceLocked)
        {
            await lease.DisposeAsync();
            throw new SubscribeException(SubscribeFailure.Busy, "queue is locked by another connection", ex);
        }
        catch (Exception ex) when (ex is OperationInterruptedException or AlreadyClosedException or BrokerUnavailableException or TimeoutException)
        {
            var lost = !lease.ConnectionOpen;
            var node = lease.Node;
            await lease.DisposeAsync();
            // The broker's words and the node's address stay in the log (SubscriptionGate); the client gets a plain reason.
            throw lost
                ? new SubscribeException(SubscribeFailure.BrokerUnavailable, $"broker connection to {node} was lost", ex)
                {
                    ConnectionLost = true,
                    ClientReason = "broker connection was lost",
                }
                : new SubscribeException(SubscribeFailure.BrokerError, $"broker refused the subscription: {Describe(ex)}", ex)
                {
                    ClientReason = "broker refused the subscription",
                };
        }
        catch
        {
            await lease.DisposeAsync();
            throw;
        }
    }

    public void QueueHeartbeat() => Consumer.TryQueueHeartbeat();

    public void QueueWakeup() => Consumer.TryQueueWakeup();

    public void Taken(OutboundItem control) => Consumer.Taken(control);

    public void Stop() => Consumer.Stop();

    public ValueTask AcknowledgeAsync(ulong tag, bool multiple, CancellationToken cancellationToken = default) =>
        Consumer.Channel.BasicAckAsync(tag, multiple, cancellationToken);

    public ValueTask RequeueAsync(ulong tag, bool multiple, CancellationToken cancellationToken = default) =>
        Consumer.Channel.BasicNackAsync(tag, multiple, requeue: true, cancellationToken);

    /// <summary>Closes the channel: deliveries not yet acknowledged go back to the queue (and a lock taken on it goes).</summary>
    public ValueTask DisposeAsync() => _lease.DisposeAsync();

    /// <summary>Takes the queue's <see cref="QueueLock"/> on <paramref name="channel"/>, or throws <see cref="SubscribeFailure.Busy"/>.</summary>
    private static async Task LockAsync(IChannel channel, string queueName, SubscriberConsumer consumer)
    {
        try
        {
            await QueueLock.AcquireAsync(channel, queueName, consumer);
        }
        catch (OperationInterruptedException ex) when (ReplyCode(ex) is AccessRefused or ResourceLocked or NotFound)
        {
            // 405: another connection holds the lock; 403: another channel of this connection does;
            // 404: it did, and the lock vanished with it between our declare and consume.
            throw new SubscribeException(SubscribeFailure.Busy, BusyReason, ex);
        }
    }

    /// <summary>The arguments the gateway declares its queues with: <c>x-expires</c>, and <c>x-queue-type</c> for quorum.</summary>
    internal static Dictionary<string, object?>? QueueArguments(QueueOptions options)
    {
        var arguments = new Dictionary<string, object?>();
        if (options.ExpiresSeconds > 0)
        {
            var milliseconds = options.ExpiresSeconds * 1000L;
            arguments["x-expires"] = milliseconds <= int.MaxValue ? (int)milliseconds : milliseconds;
        }

        if (options.IsQuorum)
        {
            // Classic stays without the argument, as queues declared before queue.type existed are.
            arguments["x-queue-type"] = "quorum";
        }

        return arguments.Count == 0 ? null : arguments;
    }

    /// <summary><c>queue.prefetch</c>, lowered so that a stream's messages in flight never exceed <c>queue.max_buffered_bytes</c>.</summary>
    private static ushort Prefetch(QueueOptions options, MessageLimits? limits) =>
        (ushort)(limits is null ? options.Prefetch : limits.Prefetch(options.Prefetch));

    private static ushort ReplyCode(OperationInterruptedException ex) => ex.ShutdownReason?.ReplyCode ?? 0;

    private static string Describe(Exception ex) => ex is OperationInterruptedException { ShutdownReason: { } r }
        ? $"{r.ReplyCode} {r.ReplyText}"
        : ex.Message;
}
