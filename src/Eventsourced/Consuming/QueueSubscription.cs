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
/// <remarks>
/// With <c>broker.subscribers_per_channel</c> above 1 the consumer sits on a channel shared with other subscribers
/// (<see cref="SharedChannel"/>), where nothing may fail: any channel error would end every stream on it. So the
/// steps that can be refused run first on a short-lived channel of the same connection: the queue's lock
/// (<see cref="QueueLock.HoldAsync"/>, for every queue type), the declare, the bindings, and a look at the queue's
/// consumers (a gateway with channels of its own does not take that lock on a classic queue). Only then does the
/// consumer start on the shared channel. Leaving cancels it, gives back what it holds, and deletes the lock.
/// </remarks>
internal sealed class QueueSubscription : ISubscription
{
    private const ushort AccessRefused = 403;
    private const ushort NotFound = 404;
    private const ushort ResourceLocked = 405;
    private const ushort PreconditionFailed = 406;
    private const int MaxConnectionAttempts = 3;
    private const string BusyReason = "queue is already being consumed by another subscriber";

    /// <summary>What the operator can do about a queue refused for its arguments (in the log line, never to the client).</summary>
    private const string AdoptHint =
        "refused (403) until it expires or is deleted; if the gateway declared it under an earlier queue.expires or queue.type, "
        + "set queue.adopt_existing: true to consume such queues as they are";

    private static readonly ConcurrentDictionary<string, byte> ReportedMismatches = new(StringComparer.Ordinal);

    /// <summary>
    /// How long leaving a shared channel waits for the broker (cancel, requeue, lock) before it gives up on it. The
    /// channel takes one request at a time, so when many subscribers leave together (a deploy, a network blip on
    /// the client side) each waits behind the others on its channel: 5 s was too short for 10,000 at once.
    /// </summary>
    private static readonly TimeSpan LeaveTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The wait before trying again to open a channel for deleting a lock, while the connection has none free.</summary>
    private static readonly TimeSpan LockRetry = TimeSpan.FromMilliseconds(50);

    // A channel of its own (broker.subscribers_per_channel 1), or a seat on a shared one.
    private readonly ChannelLease? _lease;
    private readonly ConnectionSlot? _slot;
    private readonly SharedChannel? _shared;
    private readonly SharedChannel.Seat? _seat;
    private readonly string _consumerTag = string.Empty;
    private readonly int _generation;
    private readonly ILogger? _logger;
    private int _left;

    private QueueSubscription(ChannelLease lease, SubscriberConsumer consumer, string queueName)
    {
        _lease = lease;
        Consumer = consumer;
        Name = queueName;
        Node = lease.Node;
    }

    private QueueSubscription(
        ConnectionSlot slot, int generation, SharedChannel shared, SharedChannel.Seat seat, SubscriberConsumer consumer, string queueName, string consumerTag,
        ILogger logger)
    {
        _slot = slot;
        _generation = generation;
        _shared = shared;
        _seat = seat;
        _consumerTag = consumerTag;
        _logger = logger;
        Consumer = consumer;
        Name = queueName;
        Node = slot.Node;
    }

    public SubscriberConsumer Consumer { get; }

    public string Name { get; }

    public string Node { get; }

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
        var busy = new BusyRetry(TimeSpan.FromSeconds(options.BusyGraceSeconds), pool.Time);
        var connectionAttempts = 0;
        // The try after the grace is over looks at what holds a busy queue's lock (LockTakenAsync): one look per
        // refused subscriber, not one per retry.
        var lastTry = busy.Remaining <= TimeSpan.Zero;
        while (true)
        {
            try
            {
                return await OpenOnceAsync(pool, queueName, options, bindings, format, logger, limits, lastTry, cancellationToken);
            }
            catch (SubscribeException ex) when (ex.Failure == SubscribeFailure.Busy && !lastTry)
            {
                await busy.WaitAsync(cancellationToken);
                lastTry = busy.Remaining <= TimeSpan.Zero;
            }
            catch (SubscribeException ex) when (ex.ConnectionLost && ++connectionAttempts < MaxConnectionAttempts && pool.ConnectionsUp > 0)
            {
                // Its node went down under this attempt: the next one leases on a connection that is up.
            }
        }
    }

    /// <summary>
    /// Binds <paramref name="queueName"/>, which a subscription consumes already, on a channel of its own, closed afterwards:
    /// a refusal (a missing <c>amq.</c> exchange, no permission) closes that channel, never the subscription's.
    /// </summary>
    /// <exception cref="SubscribeException">The broker refused, or no connection is up.</exception>
    public static async Task BindAsync(BrokerPool pool, string queueName, IReadOnlyList<ResolvedBinding> bindings, ILogger logger, CancellationToken cancellationToken)
    {
        await using var lease = await LeaseAsync(pool, cancellationToken);
        try
        {
            await QueueBindings.ApplyAsync(lease, queueName, bindings, logger, cancellationToken);
        }
        catch (Exception ex) when (IsBrokerFailure(ex, cancellationToken))
        {
            throw Refused(ex, lease.Node);
        }
    }

    /// <summary>A channel from <paramref name="pool"/>; no connection up is a <see cref="SubscribeException"/>.</summary>
    private static async Task<ChannelLease> LeaseAsync(BrokerPool pool, CancellationToken cancellationToken)
    {
        try
        {
            return await pool.LeaseAsync(cancellationToken);
        }
        catch (BrokerUnavailableException ex)
        {
            // The pool has logged which node failed how; the client learns no node address.
            throw new SubscribeException(SubscribeFailure.BrokerUnavailable, ex.Message, ex)
            {
                ClientReason = pool.UnavailableReason,
            };
        }
    }

    /// <summary>
    /// What the broker (or the connection to it) did to a call: a refusal, a lost connection, no answer in time. A
    /// cancellation the subscriber did not ask for is the client library giving up on a call the broker left
    /// unanswered (its continuation timeout): an overloaded or stalled node, a 503 like any refusal.
    /// </summary>
    private static bool IsBrokerFailure(Exception ex, CancellationToken cancellationToken) =>
        ex is OperationInterruptedException or AlreadyClosedException or BrokerUnavailableException or TimeoutException
        || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested);

    /// <summary>
    /// The broker refused, or left a call unanswered (<paramref name="node"/> where known): its words stay in the log
    /// (SubscriptionGate); the client gets a plain reason.
    /// </summary>
    private static SubscribeException Refused(Exception ex, string? node = null) =>
        new(SubscribeFailure.BrokerError, RefusedLogReason(ex, node), ex)
        {
            ClientReason = ex is OperationInterruptedException { ShutdownReason: { } r } ? ClientReasonFor(r.ReplyCode, r.ReplyText) : RefusedReason,
        };

    private const string RefusedReason = "broker refused the subscription";

    /// <summary>
    /// What a refused subscriber is told for the broker's reply: that the queue's node is down when RabbitMQ says so
    /// (a classic queue whose home node is gone: <c>404 NOT_FOUND - home node '...' of durable queue '...' ... is down or
    /// inaccessible</c>; it comes back with the node, so a page should retry, not give up), else the plain refusal. Never
    /// the node's name: that stays in the log.
    /// </summary>
    internal static string ClientReasonFor(ushort replyCode, string? replyText) =>
        replyCode == NotFound && replyText is not null && replyText.Contains("is down or inaccessible", StringComparison.Ordinal)
            ? RefusedReason + ": the queue's broker node is down"
            : RefusedReason;

    private static async Task<QueueSubscription> OpenOnceAsync(
        BrokerPool pool, string queueName, QueueOptions options, IReadOnlyList<ResolvedBinding> bindings, IFrameFormat format, ILogger logger,
        MessageLimits? limits, bool lastTry, CancellationToken cancellationToken)
    {
        if (pool.SubscribersPerChannel > 1 && pool.HoldsQueue(queueName))
        {
            // Held by a subscriber of this gateway (maybe its own client's previous stream, still leaving): busy for
            // sure, so no channel is opened and closed on the broker to learn it. Without this, a crowd of clients
            // reconnecting while their streams leave cost the broker a channel per busy retry, which slowed the
            // leaves they waited for.
            throw new SubscribeException(SubscribeFailure.Busy, BusyReason);
        }

        var lease = await LeaseAsync(pool, cancellationToken);
        try
        {
            return pool.SubscribersPerChannel > 1
                ? await SubscribeSharedAsync(lease, pool.SubscribersPerChannel, queueName, options, pool.Adopted, bindings, format, logger, limits, lastTry, cancellationToken)
                : await SubscribeOwnAsync(lease, queueName, options, pool.Adopted, bindings, format, logger, limits, lastTry, cancellationToken);
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
        catch (Exception ex) when (IsBrokerFailure(ex, cancellationToken))
        {
            var lost = !lease.ConnectionOpen;
            var node = lease.Node;
            await lease.DisposeAsync();
            // The node's address stays in the log (SubscriptionGate); the client gets a plain reason.
            throw lost
                ? new SubscribeException(SubscribeFailure.BrokerUnavailable, $"broker connection to {node} was lost", ex)
                {
                    ConnectionLost = true,
                    ClientReason = "broker connection was lost",
                }
                : Refused(ex, node);
        }
        catch
        {
            await lease.DisposeAsync();
            throw;
        }
    }

    /// <summary>The subscription on <paramref name="lease"/>'s channel, which it keeps.</summary>
    private static async Task<QueueSubscription> SubscribeOwnAsync(
        ChannelLease lease, string queueName, QueueOptions options, AdoptedQueues adopted, IReadOnlyList<ResolvedBinding> bindings, IFrameFormat format, ILogger logger,
        MessageLimits? limits, bool lastTry, CancellationToken cancellationToken)
    {
        var prefetch = Prefetch(options, limits);
        SubscriberConsumer NewConsumer(IChannel channel) => new(channel, prefetch, format, limits, queueName, () => lease.ConnectionOpen);
        var channel = lease.Channel;
        await channel.BasicQosAsync(0, prefetch, global: false, cancellationToken);
        var consumer = NewConsumer(channel);
        var locked = false;
        if (options.IsQuorum)
        {
            // The lock first: only its winner touches the queue. Subscribers racing to declare and consume a
            // new quorum queue make RabbitMQ 3.10 fail a consume with an internal error (noproc) that
            // closes the whole connection, every stream on it with it.
            await LockAsync(lease, channel, queueName, consumer, lastTry, cancellationToken);
            locked = true;
        }

        var (declared, asConfigured) = await DeclareAsync(lease, queueName, options, adopted, logger, cancellationToken);
        if (bindings.Count > 0)
        {
            declared = await QueueBindings.ApplyAsync(lease, queueName, bindings, logger, cancellationToken);
        }

        if (!ReferenceEquals(declared, channel))
        {
            // A declare refused (a queue or an exchange of other arguments) closed the channel: the consumer and
            // any lock went with it.
            channel = declared;
            await channel.BasicQosAsync(0, prefetch, global: false, cancellationToken);
            consumer = NewConsumer(channel);
            locked = false;
        }

        if (!locked && (options.IsQuorum || !asConfigured))
        {
            // A quorum queue, or one of unknown type: the exclusive consume below may not arbitrate.
            await LockAsync(lease, channel, queueName, consumer, lastTry, cancellationToken);
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

    /// <summary>
    /// The subscription on a shared channel of <paramref name="lease"/>'s connection; <paramref name="lease"/>'s
    /// channel (closed on return) takes the lock, declares and binds.
    /// </summary>
    private static async Task<QueueSubscription> SubscribeSharedAsync(
        ChannelLease lease, int perChannel, string queueName, QueueOptions options, AdoptedQueues adopted, IReadOnlyList<ResolvedBinding> bindings, IFrameFormat format,
        ILogger logger, MessageLimits? limits, bool lastTry, CancellationToken cancellationToken)
    {
        var slot = lease.Slot;
        var generation = slot.Generation;
        if (!slot.TryHoldQueue(queueName))
        {
            throw new SubscribeException(SubscribeFailure.Busy, BusyReason);
        }

        var locked = false;
        SharedChannel? shared = null;
        try
        {
            try
            {
                await QueueLock.HoldAsync(lease.Channel, queueName);
            }
            catch (OperationInterruptedException ex) when (ReplyCode(ex) is ResourceLocked or PreconditionFailed)
            {
                // 405: another connection holds the lock (or another client declared a queue of its name); 406: another
                // connection of a gateway with channels of its own holds it (its kind of lock), or the broker refused
                // to create it. A 403 is no such thing: the broker user may not declare locks.
                throw ReplyCode(ex) == ResourceLocked && !lastTry
                    ? new SubscribeException(SubscribeFailure.Busy, BusyReason, ex)
                    : await LockTakenAsync(lease, queueName, ex, cancellationToken);
            }

            locked = true;
            var (channel, asConfigured) = await DeclareAsync(lease, queueName, options, adopted, logger, cancellationToken);
            if (bindings.Count > 0)
            {
                channel = await QueueBindings.ApplyAsync(lease, queueName, bindings, logger, cancellationToken);
            }

            if (!options.IsQuorum || !asConfigured)
            {
                // On a classic queue (or one of unknown type) a consumer without the lock can be there: a gateway
                // with channels of its own (its exclusive consume arbitrates on classic queues), or any other AMQP
                // client; the exclusive consume on the shared channel would then be refused with a channel error,
                // ending every stream on it. On a quorum queue every gateway takes a lock, and a consumer of a node
                // just lost may linger in the count for seconds.
                var declared = await channel.QueueDeclarePassiveAsync(queueName, cancellationToken);
                if (declared.ConsumerCount > 0)
                {
                    throw new SubscribeException(SubscribeFailure.Busy, BusyReason);
                }
            }

            var prefetch = Prefetch(options, limits);
            shared = await slot.JoinSharedAsync(prefetch, perChannel, lease.HandOverReservationAsync, cancellationToken);
            var seat = shared.Join();
            var consumer = new SubscriberConsumer(shared.Channel, prefetch, format, limits, queueName, () => slot.IsUp, seat);
            string consumerTag;
            try
            {
                // Not cancellable: a consume abandoned half way could start after all, with no stream to read it.
                consumerTag = await shared.Channel.BasicConsumeAsync(
                    queueName, autoAck: false, consumerTag: string.Empty, noLocal: false, exclusive: true,
                    arguments: null, consumer: consumer, cancellationToken: CancellationToken.None);
            }
            catch
            {
                seat.Leave();
                throw;
            }

            await lease.DisposeAsync();
            return new QueueSubscription(slot, generation, shared, seat, consumer, queueName, consumerTag, logger);
        }
        catch
        {
            if (shared is not null)
            {
                await slot.LeaveSharedAsync(shared);
            }

            if (locked)
            {
                await ReleaseLockAsync(slot, generation, lease.Channel, queueName, logger);
            }

            slot.ReleaseQueue(queueName);
            throw;
        }
    }

    /// <summary>
    /// What a refused declare of <paramref name="queueName"/>'s lock queue means, looked at with a passive declare on a
    /// fresh channel of the same connection (the refusal closed the first). A lock held by another connection answers
    /// 405 (every lock the gateway takes is exclusive to its connection): busy, whatever kind of lock it is (a gateway
    /// with shared channels or not: their arguments differ, hence a 406). A lock that is not there after a 406 is the
    /// broker refusing to create it (a vhost's max-queues), which no busy retry gets past; after a 405 it went in
    /// between: busy. A lock queue that is there and not exclusive to another connection was declared by some other
    /// broker client, not by a gateway (the broker refuses an exclusive declare of it with 405): it blocks the queue
    /// until deleted, so the log says which queue to delete, and the README how to keep services off the name.
    /// </summary>
    private static async Task<SubscribeException> LockTakenAsync(ChannelLease lease, string queueName, OperationInterruptedException refused, CancellationToken cancellationToken)
    {
        var lockName = QueueLock.NameFor(queueName);
        var channel = await lease.ReopenAsync(cancellationToken);
        try
        {
            await channel.QueueDeclarePassiveAsync(lockName, cancellationToken);
        }
        catch (OperationInterruptedException ex) when (ReplyCode(ex) == ResourceLocked)
        {
            return new SubscribeException(SubscribeFailure.Busy, BusyReason, refused);
        }
        catch (OperationInterruptedException ex) when (ReplyCode(ex) == NotFound)
        {
            return ReplyCode(refused) == PreconditionFailed ? Refused(refused) : new SubscribeException(SubscribeFailure.Busy, BusyReason, refused);
        }

        return new SubscribeException(
            SubscribeFailure.BrokerError,
            $"{RefusedReason}: its lock queue '{lockName}' was declared by a broker client other than the gateway "
            + $"({Describe(refused)}); delete that queue, and keep other clients' configure permission off '{QueueLock.Prefix}'",
            refused)
        {
            ClientReason = RefusedReason,
        };
    }

    /// <summary>
    /// Declares the queue as configured, or, where it exists with other arguments and <c>queue.adopt_existing</c>
    /// allows, finds it as it is (on a fresh channel of the lease: the refusal closed the first). A queue whose declare
    /// was refused so recently (<paramref name="adopted"/>) is looked up passively first, without another refusal (the
    /// broker logs each one as an error); if it is gone, it is declared as configured.
    /// </summary>
    /// <returns>The channel to go on with, and whether the queue is as configured.</returns>
    private static async Task<(IChannel Channel, bool AsConfigured)> DeclareAsync(
        ChannelLease lease, string queueName, QueueOptions options, AdoptedQueues adopted, ILogger logger, CancellationToken cancellationToken)
    {
        var channel = lease.Channel;
        if (options.AdoptExisting && adopted.Contains(queueName))
        {
            try
            {
                await channel.QueueDeclarePassiveAsync(queueName, cancellationToken);
                return (channel, false);
            }
            catch (OperationInterruptedException ex) when (ReplyCode(ex) == NotFound)
            {
                // Expired or deleted since: declared as configured below, on a fresh channel (the 404 closed this one).
                adopted.Remove(queueName);
                channel = await lease.ReopenAsync(cancellationToken);
            }
        }

        try
        {
            await channel.QueueDeclareAsync(
                queueName, durable: true, exclusive: false, autoDelete: false,
                arguments: QueueArguments(options), cancellationToken: cancellationToken);
            return (channel, true);
        }
        catch (OperationInterruptedException ex) when (ReplyCode(ex) == PreconditionFailed)
        {
            // A 406 is also how the broker refuses to create a queue at all (a vhost's max-queues, a cluster's
            // queue limit): only a queue that exists can have other arguments, so look (on a fresh channel of the
            // lease: the refusal closed the first). A queue that is not there is the broker's refusal, 503 as any
            // other; answering it 403 "queue is not available" told clients to give up on their own queue.
            channel = await lease.ReopenAsync(cancellationToken);
            try
            {
                await channel.QueueDeclarePassiveAsync(queueName, cancellationToken);
            }
            catch (OperationInterruptedException missing) when (ReplyCode(missing) == NotFound)
            {
                throw Refused(ex);
            }

            // The queue exists with other arguments (declared by someone else, or under another queue.expires
            // or queue.type): refused unless queue.adopt_existing, then consumed as it is.
            if (!options.AdoptExisting)
            {
                // The broker's reply names one argument and both values, not whose queue it is: the operator decides,
                // and a change of queue.expires or queue.type refuses every queue declared before it, so say how.
                throw new SubscribeException(SubscribeFailure.QueueRefused, $"queue {queueName} exists with other arguments: {Describe(ex)}; {AdoptHint}", ex)
                {
                    ClientReason = "queue is not available",
                };
            }

            if (ReportedMismatches.Count < 10_000 && ReportedMismatches.TryAdd(queueName, 0))
            {
                ConsumingLog.QueueArgumentsDiffer(logger, queueName, ex.ShutdownReason?.ReplyText ?? ex.Message);
            }

            // Found by the passive declare above: from now on looked up passively, without another refusal.
            adopted.Add(queueName);
            return (channel, false);
        }
    }

    public void QueueHeartbeat() => Consumer.TryQueueHeartbeat();

    public void QueueWakeup() => Consumer.TryQueueWakeup();

    public void Taken(OutboundItem control) => Consumer.Taken(control);

    public void Stop() => Consumer.Stop();

    public ValueTask AcknowledgeAsync(ulong tag, bool multiple, CancellationToken cancellationToken = default) =>
        _seat is { } seat ? seat.SettleAsync(tag, multiple, Settlement.Ack) : Consumer.Channel.BasicAckAsync(tag, multiple, cancellationToken);

    public ValueTask RequeueAsync(ulong tag, bool multiple, CancellationToken cancellationToken = default) =>
        _seat is { } seat ? seat.SettleAsync(tag, multiple, Settlement.Requeue) : Consumer.Channel.BasicNackAsync(tag, multiple, requeue: true, cancellationToken);

    /// <summary>
    /// Gives back every delivery not acknowledged, and the queue: its own channel closes (the broker requeues,
    /// and a lock taken on the channel goes). On a shared channel: the consumer is cancelled, what it holds
    /// requeued, the lock deleted and the seat given up, in that order, so that the next subscriber finds the
    /// queue whole. The lock is deleted on a short-lived channel of the same connection (which owns it, whichever
    /// of its channels declared it), where a refused delete (403) closes no other stream's channel; only when every
    /// channel of the connection is taken on the shared channel itself, as leaving must not wait for a free one.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (_lease is not null)
        {
            await _lease.DisposeAsync();
            return;
        }

        if (Interlocked.Exchange(ref _left, 1) != 0)
        {
            return;
        }

        Consumer.Stop();
        var shared = _shared!;
        var channel = shared.Channel;
        var unlocked = false;
        try
        {
            using var timeout = new CancellationTokenSource(LeaveTimeout);
            if (channel.IsOpen && !Consumer.Detached.IsCompleted)
            {
                await channel.BasicCancelAsync(_consumerTag, noWait: false, timeout.Token);
                // Its cancel-ok comes through the dispatcher after every delivery before it: the seat holds all there is.
                await Consumer.Detached.WaitAsync(timeout.Token);
            }

            if (channel.IsOpen && _slot!.IsUp && _slot.Generation == _generation)
            {
                await _seat!.SettleAllAsync(Settlement.Requeue);
                // A round trip on the shared channel first (basic.qos with the prefetch it has had since it opened: no
                // change, no permission needed): once it is answered, the broker's channel has handled the requeue above.
                // The broker's channels work apart, so without it a busy shared channel could still hold the requeue
                // when the lock was gone and the next subscriber's consume began: that subscriber would get newer
                // messages before the ones given back.
                await channel.BasicQosAsync(0, shared.Prefetch, global: false, timeout.Token);
                // Then the delete on a short-lived channel of the same connection (which owns the lock, whichever of its
                // channels declared it): the broker may refuse it (its user's configure on eventsourced.lock. taken away
                // while the stream was open), and on the shared channel that channel error ended every other stream on it.
                try
                {
                    await _slot.WithChannelAsync(open => QueueLock.ReleaseAsync(open, Name, timeout.Token), timeout.Token);
                }
                catch (BrokerUnavailableException)
                {
                    // Every channel of the connection taken (a burst of subscribers): leaving must not wait for one, or
                    // the lock would stay as long as the connection; on the shared channel then, as before.
                    await QueueLock.ReleaseAsync(channel, Name, timeout.Token);
                }
                catch (OperationInterruptedException ex)
                {
                    ConsumingLog.SharedChannelLeaveFailed(_logger!, Name, Node, Describe(ex), "its lock stays until the broker connection closes");
                }

                unlocked = true;
            }
        }
        catch (Exception ex) when (ex is OperationInterruptedException or AlreadyClosedException or OperationCanceledException or TimeoutException)
        {
            if (channel.IsOpen && (_seat!.Held > 0 || !Consumer.Detached.IsCompleted))
            {
                // Deliveries the seat could not give back would wait on the open channel for as long as it lives, and
                // so would those of a consumer whose cancel was not confirmed (it may not even have been sent, if it
                // waited its turn on the channel): closing it ends the other streams on it (they reconnect), but
                // loses nothing.
                ConsumingLog.SharedChannelLeaveFailed(_logger!, Name, Node, Describe(ex), "closing the shared channel so that the broker requeues them");
                await AbortQuietlyAsync(channel);
            }
        }
        finally
        {
            try
            {
                _seat!.Leave();
                await _slot!.LeaveSharedAsync(shared);
                if (!unlocked)
                {
                    await ReleaseLockAsync(_slot, _generation, open: null, Name, _logger!);
                }
            }
            finally
            {
                // Whatever happened above: this connection's next subscriber of the queue is not turned away as busy.
                _slot!.ReleaseQueue(Name);
            }
        }
    }

    /// <summary>Deletes the lock of <paramref name="queueName"/> (<see cref="QueueLock.HoldAsync"/>), on <paramref name="open"/> if it still is.</summary>
    private static async Task ReleaseLockAsync(ConnectionSlot slot, int generation, IChannel? open, string queueName, ILogger logger)
    {
        if (!slot.IsUp || slot.Generation != generation)
        {
            // The lock is exclusive to the connection it was taken on: it went with it.
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(LeaveTimeout);
            if (open is { IsOpen: true })
            {
                await QueueLock.ReleaseAsync(open, queueName, timeout.Token);
            }
            else
            {
                while (true)
                {
                    try
                    {
                        await slot.WithChannelAsync(channel => QueueLock.ReleaseAsync(channel, queueName, timeout.Token), timeout.Token);
                        break;
                    }
                    catch (BrokerUnavailableException) when (slot.IsUp && slot.Generation == generation)
                    {
                        // Every channel of the connection taken (a burst of subscribers coming or going): one comes free soon.
                        await Task.Delay(LockRetry, timeout.Token);
                    }
                }
            }
        }
        catch (Exception ex)
        {
            // Every failure, not only the broker's: this runs while a subscription ends, and whatever it throws would
            // end the request with an unhandled exception and skip what comes after it (a bench once met the client
            // library's ChannelAllocationException here).
            if (slot.IsUp && slot.Generation == generation)
            {
                ConsumingLog.SharedChannelLeaveFailed(logger, queueName, slot.Node, Describe(ex), "its lock stays until the broker connection closes");
            }
        }
    }

    private static async Task AbortQuietlyAsync(IChannel channel)
    {
        try
        {
            await channel.AbortAsync();
        }
        catch (Exception)
        {
            // Closing either way; nothing more to do.
        }
    }

    /// <summary>Takes the queue's <see cref="QueueLock"/> on <paramref name="channel"/> (of <paramref name="lease"/>), or throws <see cref="SubscribeFailure.Busy"/>.</summary>
    private static async Task LockAsync(ChannelLease lease, IChannel channel, string queueName, SubscriberConsumer consumer, bool lastTry, CancellationToken cancellationToken)
    {
        try
        {
            await QueueLock.AcquireAsync(channel, queueName, consumer);
        }
        catch (OperationInterruptedException ex) when (ReplyCode(ex) is ResourceLocked or PreconditionFailed && (lastTry || ReplyCode(ex) == PreconditionFailed))
        {
            // 405 on the last try: another connection holds the lock, or another client declared a queue of its name;
            // 406: a gateway with shared channels holds it (its kind of lock), or the broker refused to create it.
            throw await LockTakenAsync(lease, queueName, ex, cancellationToken);
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

    /// <summary>
    /// The log's words for a refused subscription. A cancellation or timeout no one asked for is a call the broker left
    /// unanswered until the client library gave up (its continuation timeout, 20 s): a stalled node, or quorum queues
    /// whose majority of nodes is down. Said so, with the node where known, rather than the exception's own message
    /// ("A task was canceled."), which read as if the broker had refused something.
    /// </summary>
    internal static string RefusedLogReason(Exception ex, string? node) => ex is OperationCanceledException or TimeoutException
        ? $"{RefusedReason}: no answer from {node ?? "the broker"} in time ({ex.GetType().Name}; a stalled node, or a majority of a quorum queue's nodes down)"
        : $"{RefusedReason}: {Describe(ex)}";
}
