using System.Collections.Concurrent;
using System.Threading.Channels;
using Eventsourced.Broker;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client.Exceptions;
using RabbitMQ.Client;

namespace Eventsourced.Consuming;

/// <summary>
/// One subscriber's hold on its own queue: a leased channel, the queue declared, and an exclusive consumer
/// on it. The exclusive consume is the arbiter: of any number of simultaneous subscribers, across all
/// gateway instances, the broker lets exactly one through and refuses the others with 403.
/// </summary>
internal sealed class QueueSubscription : ISubscription
{
    private const ushort AccessRefused = 403;
    private const ushort ResourceLocked = 405;
    private const ushort PreconditionFailed = 406;
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

    public static async Task<QueueSubscription> OpenAsync(
        BrokerPool pool, string queueName, QueueOptions options, IFrameFormat format, ILogger logger, CancellationToken cancellationToken = default, MessageLimits? limits = null)
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
                ClientReason = pool.ConnectionsUp == 0 ? "no broker connection is up" : "no broker connection can take the subscription",
            };
        }

        try
        {
            var channel = lease.Channel;
            await channel.BasicQosAsync(0, Prefetch(options, limits), global: false, cancellationToken);
            try
            {
                await channel.QueueDeclareAsync(
                    queueName, durable: true, exclusive: false, autoDelete: false,
                    arguments: QueueArguments(options.ExpiresSeconds), cancellationToken: cancellationToken);
            }
            catch (OperationInterruptedException ex) when (ReplyCode(ex) == PreconditionFailed)
            {
                // The queue exists with other arguments (declared by someone else, or under another
                // queue.expires): refused unless queue.adopt_existing, then consumed as it is.
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

                channel = await lease.ReopenAsync(cancellationToken);
                await channel.BasicQosAsync(0, Prefetch(options, limits), global: false, cancellationToken);
                await channel.QueueDeclarePassiveAsync(queueName, cancellationToken);
            }

            var consumer = new SubscriberConsumer(channel, Prefetch(options, limits), format, limits, queueName);
            try
            {
                await channel.BasicConsumeAsync(
                    queueName, autoAck: false, consumerTag: string.Empty, noLocal: false, exclusive: true,
                    arguments: null, consumer: consumer, cancellationToken: cancellationToken);
            }
            catch (OperationInterruptedException ex) when (ReplyCode(ex) is AccessRefused or ResourceLocked)
            {
                throw new SubscribeException(SubscribeFailure.Busy, "queue is already being consumed by another subscriber", ex);
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
        catch (Exception ex) when (ex is OperationInterruptedException or AlreadyClosedException or BrokerUnavailableException)
        {
            await lease.DisposeAsync();
            throw new SubscribeException(SubscribeFailure.BrokerError, $"broker refused the subscription: {Describe(ex)}", ex)
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

    /// <summary>Closes the channel: deliveries not yet acknowledged go back to the queue.</summary>
    public ValueTask DisposeAsync() => _lease.DisposeAsync();

    private static Dictionary<string, object?>? QueueArguments(int expiresSeconds)
    {
        if (expiresSeconds <= 0)
        {
            return null;
        }

        var milliseconds = expiresSeconds * 1000L;
        return new Dictionary<string, object?>
        {
            ["x-expires"] = milliseconds <= int.MaxValue ? (int)milliseconds : milliseconds,
        };
    }

    /// <summary><c>queue.prefetch</c>, lowered so that a stream's messages in flight never exceed <c>queue.max_buffered_bytes</c>.</summary>
    private static ushort Prefetch(QueueOptions options, MessageLimits? limits) =>
        (ushort)(limits is null ? options.Prefetch : limits.Prefetch(options.Prefetch));

    private static ushort ReplyCode(OperationInterruptedException ex) => ex.ShutdownReason?.ReplyCode ?? 0;

    private static string Describe(Exception ex) => ex is OperationInterruptedException { ShutdownReason: { } r }
        ? $"{r.ReplyCode} {r.ReplyText}"
        : ex.Message;
}
