using Eventsourced.Broker;
using Eventsourced.Consuming;
using Eventsourced.Metrics;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Eventsourced.Topics;

/// <summary>
/// Reads a topic's stream for one subscriber that resumes from further back than its feed keeps in memory: a
/// consumer of its own, from the offset the subscriber needs, on a channel of its own. Each event goes into the
/// subscriber's buffer; after each one the feed is asked whether the subscriber has caught up (<see cref="TopicFeed.TryJoin"/>),
/// and once it has, this reader is closed and the feed takes over without a gap or a repeat. Its deliveries are
/// acknowledged only as the subscriber's client receives them (<see cref="AcknowledgeAsync"/>), so the stream is read
/// no faster than that client reads: at most the prefetch waits.
/// </summary>
internal sealed class CatchUpReader(TopicSubscription subscription, TopicFeed feed) : IAsyncBasicConsumer
{
    private readonly Queue<(long Offset, ulong Tag)> _unacknowledged = new();
    private ChannelLease? _lease;
    private int _closed;

    public IChannel? Channel => Volatile.Read(ref _lease)?.Channel;

    /// <summary>Consumes <paramref name="stream"/> from <paramref name="from"/>; does nothing more if the subscriber joined the feed meanwhile.</summary>
    /// <exception cref="BrokerUnavailableException">No broker connection can take a channel.</exception>
    /// <exception cref="OperationInterruptedException">The broker refused the consume.</exception>
    public async Task StartAsync(BrokerPool pool, string stream, long from, int prefetch, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _closed) != 0)
        {
            return;
        }

        try
        {
            await StreamReplica.OnANodeWithAReplicaAsync(pool, lease => ConsumeOnAsync(lease, stream, from, prefetch, cancellationToken), null, cancellationToken);
        }
        catch
        {
            Close();
            throw;
        }
    }

    /// <summary>Consumes on <paramref name="lease"/>, which it keeps, or disposes when it throws or the reader was closed.</summary>
    private async Task<bool> ConsumeOnAsync(ChannelLease lease, string stream, long from, int prefetch, CancellationToken cancellationToken)
    {
        Interlocked.Exchange(ref _lease, lease);
        try
        {
            if (Volatile.Read(ref _closed) == 0)
            {
                await lease.Channel.BasicQosAsync(0, (ushort)prefetch, global: false, cancellationToken);
                await lease.Channel.BasicConsumeAsync(
                    stream, autoAck: false, consumerTag: string.Empty, noLocal: false, exclusive: false,
                    arguments: new Dictionary<string, object?> { [StreamOffsets.Header] = from }, consumer: this, cancellationToken: cancellationToken);
            }
        }
        catch when (Volatile.Read(ref _closed) != 0)
        {
            // Closed while starting: the subscriber joined the feed (an event it needed reached the feed first) or left,
            // and the close is what failed the consume (its channel closed or disposed under it). Nothing is left to read.
        }
        catch
        {
            // Refused (another node may hold a replica: see StreamReplica), or failed: this lease is not the reader's.
            Interlocked.CompareExchange(ref _lease, null, lease);
            await lease.DisposeAsync();
            throw;
        }

        if (Volatile.Read(ref _closed) != 0)
        {
            // Closed while starting: whoever closed it may not have seen the lease yet.
            await lease.DisposeAsync();
        }

        return true;
    }

    /// <summary>The subscriber's client has every event up to <paramref name="offset"/>: read further.</summary>
    public async ValueTask AcknowledgeAsync(long offset, CancellationToken cancellationToken = default)
    {
        ulong tag = 0;
        lock (_unacknowledged)
        {
            while (_unacknowledged.TryPeek(out var delivery) && delivery.Offset <= offset)
            {
                tag = _unacknowledged.Dequeue().Tag;
            }
        }

        if (tag == 0 || Volatile.Read(ref _closed) != 0 || Channel is not { } channel)
        {
            return;
        }

        try
        {
            await channel.BasicAckAsync(tag, multiple: true, cancellationToken);
        }
        catch (Exception ex) when (ex is AlreadyClosedException or OperationInterruptedException)
        {
            // Closed meanwhile (the subscriber joined the feed, or left): nothing to read further.
        }
    }

    /// <summary>Stops reading (the subscriber joined the feed, or left) and closes the channel, later: never from the channel's own dispatcher.</summary>
    public void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0 && Volatile.Read(ref _lease) is { } lease)
        {
            _ = Task.Run(async () => await lease.DisposeAsync());
        }
    }

    public Task HandleBasicDeliverAsync(
        string consumerTag,
        ulong deliveryTag,
        bool redelivered,
        string exchange,
        string routingKey,
        IReadOnlyBasicProperties properties,
        ReadOnlyMemory<byte> body,
        CancellationToken cancellationToken = default)
    {
        if (Volatile.Read(ref _closed) != 0 || StreamOffsets.Of(properties) is not { } offset)
        {
            return Task.CompletedTask;
        }

        var added = false;
        lock (subscription.Sync)
        {
            if (subscription.State != TopicReaderState.CatchingUp)
            {
                return Task.CompletedTask;
            }

            lock (_unacknowledged)
            {
                _unacknowledged.Enqueue((offset, deliveryTag));
            }

            // Below Next: already had (a retention boundary moved, or the stream repeats a chunk's start). Above
            // Next: retention dropped what it asked for; the oldest still kept is all it can have.
            if (offset >= subscription.Next && body.Length > feed.MaxEventBytes)
            {
                // Over queue.max_message_bytes: passed over, as the feed passes over it (which counts and logs it).
                subscription.Next = offset + 1;
                added = true;
            }
            else if (offset >= subscription.Next && subscription.IsBehind && feed.MemoryNearlyFull())
            {
                // Behind while the heap is nearly full, as a live subscriber is ended (TopicFeed): this reader's frames are
                // its own, up to its prefetch of them.
                subscription.EndLettingGo(SubscriptionEndReason.MemoryFull);
                return Task.CompletedTask;
            }
            else if (offset >= subscription.Next)
            {
                var item = subscription.Format.Message((ulong)offset + 1, body.Span, properties, MessageTimestamp.From(properties));
                if (!subscription.TryAdd(item))
                {
                    // Its reader stopped (it leaves), or, against the prefetch, its buffer is full.
                    item.Release();
                    if (!subscription.IsStopped && subscription.End(SubscriptionEndReason.SlowReader))
                    {
                        feed.SlowSubscriberEnded(subscription);
                    }

                    return Task.CompletedTask;
                }

                subscription.Next = offset + 1;
                subscription.DeliveredFromStream = true;
                added = true;
            }
        }

        if (added)
        {
            feed.TryJoin(subscription);
        }

        return Task.CompletedTask;
    }

    public Task HandleBasicCancelAsync(string consumerTag, CancellationToken cancellationToken = default)
    {
        Ended(SubscriptionEndReason.ConsumerCancelled);
        return Task.CompletedTask;
    }

    public Task HandleChannelShutdownAsync(object channel, ShutdownEventArgs reason)
    {
        Ended(SubscriptionEndReason.ChannelClosed);
        return Task.CompletedTask;
    }

    public Task HandleBasicCancelOkAsync(string consumerTag, CancellationToken cancellationToken = default) => Task.CompletedTask;

    public Task HandleBasicConsumeOkAsync(string consumerTag, CancellationToken cancellationToken = default) => Task.CompletedTask;

    /// <summary>The broker ended this reader: that ends the subscriber, unless it joined the feed (and closed this) first.</summary>
    private void Ended(SubscriptionEndReason reason)
    {
        lock (subscription.Sync)
        {
            if (Volatile.Read(ref _closed) == 0 && subscription.State == TopicReaderState.CatchingUp)
            {
                subscription.End(reason);
            }
        }
    }
}
