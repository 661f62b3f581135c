using System.Globalization;
using System.Text;
using Eventsourced.Broker;
using Eventsourced.Consuming;
using Eventsourced.Metrics;
using Eventsourced.Naming;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RabbitMQ.Client.Exceptions;

namespace Eventsourced.Topics;

/// <summary>
/// The topics this gateway instance serves: one <see cref="TopicFeed"/> per topic that has subscribers (or had them
/// within <c>topics.linger</c>), opened by the first subscriber and shared by all that come while it runs. Opening a
/// topic declares its stream if it does not exist and <c>topics.create</c> (and <c>topics.create_max</c>) allow it.
/// A feed the broker ended is forgotten at once, so the next subscriber opens a new one.
/// </summary>
internal sealed class TopicHub : IHostedService, IAsyncDisposable
{
    /// <summary>
    /// Events the broker may send a topic's feed ahead of its acknowledgements, at most: fewer where that many of the
    /// largest size would pass <c>queue.max_buffered_bytes</c> (64 with the defaults, 1 MiB messages), as for any stream.
    /// RabbitMQ.Client holds what the broker sent until the feed has handed it on: with 512 events of 1 MB, a feed that
    /// ran behind ran a 192 MiB heap out (OutOfMemoryException in the connection's reader, SlowReaderMemoryTests), also on
    /// a quiet machine. A topic of many small events a second gets its 512 with a smaller <c>queue.max_message_bytes</c>.
    /// </summary>
    private const int FeedPrefetch = 512;

    /// <summary>Events a catching-up subscriber's reader may have unacknowledged (at most half its buffer).</summary>
    private const int CatchUpPrefetch = 128;

    /// <summary>How often, and how many times, a feed looks again whether another connection still creates its stream.</summary>
    private const int StreamCreationAttempts = 50;

    private static readonly TimeSpan StreamCreationPoll = TimeSpan.FromMilliseconds(100);

    private const ushort NotFound = 404;
    private const ushort ResourceLocked = 405;
    private const ushort PreconditionFailed = 406;

    private readonly object _sync = new();
    private readonly Dictionary<string, Entry> _feeds = new(StringComparer.Ordinal);
    private readonly BrokerPool _pool;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stopping = new();
    private readonly int _prefixBytes;
    private readonly QueuePattern _queuePattern;
    private int _created;
    private int _stopped;

    public TopicHub(
        IOptions<TopicOptions> options, IOptions<BrokerOptions> broker, IOptions<QueueOptions> queue, BrokerPool pool, GatewayMetrics metrics, TimeProvider time, ILogger<TopicHub> logger,
        MessageLimits? limits = null)
    {
        Limits = limits;
        Options = options.Value;
        _queuePattern = QueuePattern.Parse(queue.Value.Pattern);
        _pool = pool;
        _time = time;
        Metrics = metrics;
        Logger = logger;
        _prefixBytes = Encoding.UTF8.GetByteCount(Options.Prefix);
        MaxStreamNameBytes = MaxStreamName(broker.Value.Node.Select(BrokerUrl.Parse));
        MaxEventBytes = queue.Value.MaxMessageBytes;
    }

    /// <summary>
    /// <c>queue.max_message_bytes</c>, for topics too: a larger event is never handed to a subscriber. It stays in the
    /// stream (nothing can be rejected from a stream); subscribers pass over it, as their queues' streams pass over such
    /// a message.
    /// </summary>
    public int MaxEventBytes { get; }

    /// <summary>
    /// The byte bounds of queues, for topics too: the prefetch of a catching-up subscriber's reader is lowered to
    /// <c>queue.max_buffered_bytes / queue.max_message_bytes</c> when that is less, and a subscriber that is behind when
    /// the heap is nearly full is ended (<see cref="MessageLimits.MemoryNearlyFull"/>). Null in tests without them.
    /// </summary>
    public MessageLimits? Limits { get; }

    /// <summary>
    /// The longest name a stream queue can have: RabbitMQ (3.10) keeps a stream's data in a directory named
    /// <c>VHOST_NAME_TIMESTAMP</c> (19 digits), and a directory name has at most 255 bytes. A longer name is declared
    /// but cannot be read (406, <c>enametoolong</c> in the broker's log).
    /// </summary>
    public int MaxStreamNameBytes { get; }

    public TopicOptions Options { get; }

    public GatewayMetrics Metrics { get; }

    public TimeProvider Time => _time;

    public ILogger Logger { get; }

    /// <summary>Topics with a running feed (or one being opened).</summary>
    public int Open
    {
        get
        {
            lock (_sync)
            {
                return _feeds.Count;
            }
        }
    }

    /// <summary>
    /// <paramref name="configured"/> events, or fewer where that many of the largest size would pass
    /// <c>queue.max_buffered_bytes</c>: what a catching-up subscriber's reader may hold, as a queue's stream (each such
    /// subscriber reads the stream itself, so a client could open many), and what a topic's feed may hold
    /// (<see cref="FeedPrefetch"/>).
    /// </summary>
    private int Prefetch(int configured) => Limits?.Prefetch(configured) ?? configured;

    /// <summary>
    /// Why <paramref name="topic"/> cannot name a topic (its stream's name would not be a valid queue name), or null. With a
    /// prefix, the stream's whole name is held to the reserved prefixes too: a prefix that is the start of one
    /// (<c>eventsourced.</c>, <c>am</c>) would otherwise let a client name a stream <c>eventsourced.lock.HASH</c>, a durable
    /// queue in place of the lock that another topic's creation (or a queue's subscriber) needs, which would never get it.
    /// </summary>
    public string? CheckName(string topic) =>
        QueueNameRules.Check(topic, "topic name", MaxStreamNameBytes - _prefixBytes, reservedPrefix: _prefixBytes == 0)
        ?? (_prefixBytes > 0 ? QueueNameRules.Check(Options.Prefix + topic, "topic's stream name") : null);

    internal static int MaxStreamName(IEnumerable<BrokerUrl> nodes) =>
        Math.Min(QueueNameRules.MaxBytes, 255 - 2 - 19 - nodes.Select(node => Encoding.UTF8.GetByteCount(node.VirtualHost)).DefaultIfEmpty(1).Max());

    /// <summary>
    /// Whether <paramref name="stream"/> is a name <c>queue.pattern</c> gives clients' queues, when the pattern has text of
    /// its own (a pattern that is placeholders only lets requests name any queue: there every name would be, and the
    /// start-up warns instead, <see cref="SharesNamesWithQueues"/>).
    /// </summary>
    public bool CouldBeAClientsQueue(string stream) => _queuePattern.HasLiteralText && _queuePattern.CouldName(stream);

    /// <summary>Whether topics may be created under any name a client's queue could have: no <c>topics.prefix</c>, and a <c>queue.pattern</c> of placeholders only.</summary>
    public bool SharesNamesWithQueues => Options.Create.Count > 0 && Options.Prefix.Length == 0 && !_queuePattern.HasLiteralText;

    /// <summary>Whether <c>topics.create</c> lets <paramref name="topic"/> be created on first use.</summary>
    public bool MayCreate(string topic) => Options.Create.Any(pattern => TopicNamePattern.Matches(pattern, topic));

    /// <summary>
    /// A new subscriber of <paramref name="topic"/>: from new events, or from the event after <paramref name="resumeAfter"/>.
    /// Opens the topic's feed if it has none (declaring its stream if allowed).
    /// </summary>
    /// <exception cref="SubscribeException">The topic does not exist and may not be created, is no stream, or the broker refused.</exception>
    public async Task<TopicSubscription> SubscribeAsync(string topic, long? resumeAfter, IFrameFormat format, CancellationToken cancellationToken)
    {
        BusyRetry? failover = null;
        while (true)
        {
            try
            {
                return await SubscribeOnceAsync(topic, resumeAfter, format, cancellationToken);
            }
            catch (SubscribeException ex) when (StreamFailover.MayPass(ex))
            {
                failover ??= new BusyRetry(StreamFailover.Grace, _time);
                var remaining = failover.Remaining;
                if (!await failover.WaitAsync(cancellationToken))
                {
                    throw;
                }

                TopicsLog.RefusedDuringFailover(Logger, topic, ex.Message, remaining.TotalSeconds);
            }
        }
    }

    private async Task<TopicSubscription> SubscribeOnceAsync(string topic, long? resumeAfter, IFrameFormat format, CancellationToken cancellationToken)
    {
        Entry entry;
        TopicSubscription subscription;
        CatchUpReader? catchUp;
        long from;
        for (var attempt = 1; ; attempt++)
        {
            entry = Acquire(topic);
            try
            {
                var feed = await entry.Opened.Task.WaitAsync(cancellationToken);
                subscription = feed.Attach(format, resumeAfter, out catchUp, out from);
                break;
            }
            catch (FeedEndedException) when (attempt < 3)
            {
                // The broker ended the feed (its connection lost, say) between its opening and this attach, and the feed
                // may not have had the hub forget it yet (it does so right after ending its subscribers): forgotten here,
                // or the next attempt found the same ended feed and a client reconnecting at once got a 503.
                lock (_sync)
                {
                    Remove(entry);
                }

                Release(entry);
            }
            catch
            {
                Release(entry);
                throw;
            }
        }

        if (catchUp is not null)
        {
            Metrics.TopicCatchUp();
            try
            {
                await catchUp.StartAsync(_pool, entry.Feed!.Stream, from, Prefetch(Math.Min(CatchUpPrefetch, Options.Buffer / 2)), cancellationToken);
            }
            catch (Exception ex)
            {
                await subscription.DisposeAsync();
                throw ex switch
                {
                    // The broker's words and node addresses are for the log (SubscriptionGate); the client gets a plain reason.
                    BrokerUnavailableException => new SubscribeException(SubscribeFailure.BrokerUnavailable, ex.Message, ex)
                    {
                        ClientReason = _pool.UnavailableReason,
                    },
                    OperationInterruptedException or AlreadyClosedException => new SubscribeException(
                        SubscribeFailure.BrokerError, $"cannot read topic '{topic}' from offset {from}: {Describe(ex)}", ex)
                    {
                        ClientReason = $"broker refused reading topic '{topic}' from offset {from}",
                    },
                    // The broker left the catch-up's call unanswered (the client library's continuation timeout), not the client leaving.
                    OperationCanceledException or TimeoutException when !cancellationToken.IsCancellationRequested => new SubscribeException(
                        SubscribeFailure.BrokerError, $"cannot read topic '{topic}' from offset {from}: no answer from the broker ({ex.GetType().Name})", ex)
                    {
                        ClientReason = $"broker refused reading topic '{topic}' from offset {from}",
                    },
                    _ => ex,
                };
            }
        }

        return subscription;
    }

    /// <summary>The topic's entry, held (and opened by this call when there was none); cancels a linger.</summary>
    private Entry Acquire(string topic)
    {
        Entry entry;
        var opener = false;
        lock (_sync)
        {
            if (Volatile.Read(ref _stopped) != 0)
            {
                throw new SubscribeException(SubscribeFailure.BrokerUnavailable, "gateway is shutting down");
            }

            if (!_feeds.TryGetValue(topic, out entry!))
            {
                entry = new Entry(topic);
                _feeds.Add(topic, entry);
                opener = true;
            }

            entry.Holders++;
            entry.Linger?.Dispose();
            entry.Linger = null;
        }

        if (opener)
        {
            _ = OpenAsync(entry);
        }

        return entry;
    }

    /// <summary>A subscriber of <paramref name="feed"/> left; the last one starts the linger, after which the feed closes.</summary>
    public void Release(TopicFeed feed) => Release(feed.Entry);

    /// <summary>The topic's feed while this instance consumes it.</summary>
    internal TopicFeed? FeedOf(string topic)
    {
        lock (_sync)
        {
            return _feeds.TryGetValue(topic, out var entry) ? entry.Feed : null;
        }
    }

    /// <summary>The broker ended <paramref name="feed"/> (its subscribers have been ended): the next subscriber opens a new one.</summary>
    public void Forget(TopicFeed feed)
    {
        var entry = feed.Entry;
        lock (_sync)
        {
            Remove(entry);
        }

        // Never from the consumer's own dispatcher, where this is called.
        _ = Task.Run(async () => await CloseAsync(entry, SubscriptionEndReason.ChannelClosed));
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Closes every feed (streams have ended before: the web server stops first).</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync();
        Entry[] entries;
        lock (_sync)
        {
            entries = [.. _feeds.Values];
            foreach (var entry in entries)
            {
                Remove(entry);
            }
        }

        await Task.WhenAll(entries.Select(entry => CloseAsync(entry, SubscriptionEndReason.Shutdown)));
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None);
        _stopping.Dispose();
    }

    private void Release(Entry entry)
    {
        lock (_sync)
        {
            if (--entry.Holders > 0 || entry.Gone)
            {
                return;
            }

            if (Options.LingerSeconds > 0 && entry.Opened.Task.IsCompletedSuccessfully)
            {
                entry.Linger = _time.CreateTimer(
                    static state =>
                    {
                        var (hub, lingering) = ((TopicHub, Entry))state!;
                        hub.LingerEnded(lingering);
                    },
                    (this, entry), TimeSpan.FromSeconds(Options.LingerSeconds), Timeout.InfiniteTimeSpan);
                return;
            }

            Remove(entry);
        }

        _ = CloseAsync(entry, SubscriptionEndReason.ClientGone);
    }

    private void LingerEnded(Entry entry)
    {
        lock (_sync)
        {
            if (entry.Holders > 0 || entry.Gone)
            {
                return;
            }

            Remove(entry);
        }

        _ = CloseAsync(entry, SubscriptionEndReason.ClientGone);
    }

    /// <summary>Under <see cref="_sync"/>: the entry is no longer handed out; once.</summary>
    private void Remove(Entry entry)
    {
        if (entry.Gone)
        {
            return;
        }

        entry.Gone = true;
        entry.Linger?.Dispose();
        entry.Linger = null;
        if (_feeds.TryGetValue(entry.Topic, out var current) && ReferenceEquals(current, entry))
        {
            _feeds.Remove(entry.Topic);
        }
    }

    private async Task CloseAsync(Entry entry, SubscriptionEndReason reason)
    {
        if (entry.Feed is not { } feed || !entry.TryClaimClose())
        {
            return;
        }

        await feed.CloseAsync(reason);
        Metrics.TopicClosed();
        TopicsLog.FeedClosed(Logger, entry.Topic, reason);
    }

    /// <summary>Declares the topic's stream if needed and allowed, and starts its feed; completes <see cref="Entry.Opened"/> either way.</summary>
    private async Task OpenAsync(Entry entry)
    {
        try
        {
            var feed = await StartFeedAsync(entry);
            bool gone;
            lock (_sync)
            {
                entry.Feed = feed;
                gone = entry.Gone;
            }

            Metrics.TopicOpened();
            TopicsLog.FeedOpened(Logger, entry.Topic, feed.Stream, feed.Node);
            entry.Opened.TrySetResult(feed);
            if (gone)
            {
                // Everyone waiting for it left, or the gateway stopped, while it opened.
                await CloseAsync(entry, SubscriptionEndReason.ClientGone);
            }
        }
        catch (Exception ex)
        {
            lock (_sync)
            {
                Remove(entry);
            }

            entry.Opened.TrySetException(ex);
        }
    }

    private async Task<TopicFeed> StartFeedAsync(Entry entry)
    {
        var topic = entry.Topic;
        var stream = Options.Prefix + topic;
        var cancellationToken = _stopping.Token;
        try
        {
            return await StreamReplica.OnANodeWithAReplicaAsync(
                _pool,
                lease => StartFeedOnAsync(lease, entry, topic, stream, cancellationToken),
                node => TopicsLog.NoReplicaOnNode(Logger, topic, node),
                cancellationToken);
        }
        catch (Exception ex) when (StreamReplica.NotOnThisNode(ex))
        {
            // No connection to a node with a replica: the refusal is what the client gets.
            throw new SubscribeException(SubscribeFailure.BrokerError, $"broker refused topic '{topic}': {Describe(ex)}", ex)
            {
                ClientReason = $"broker refused topic '{topic}'",
            };
        }
        catch (BrokerUnavailableException ex)
        {
            throw new SubscribeException(SubscribeFailure.BrokerUnavailable, ex.Message, ex)
            {
                ClientReason = _pool.UnavailableReason,
            };
        }
    }

    /// <summary>Opens the topic's feed on <paramref name="lease"/> (disposed when this throws).</summary>
    private async Task<TopicFeed> StartFeedOnAsync(ChannelLease lease, Entry entry, string topic, string stream, CancellationToken cancellationToken)
    {
        try
        {
            var created = await EnsureStreamAsync(lease, topic, stream, cancellationToken);
            var prefetch = Prefetch(FeedPrefetch);
            var feed = new TopicFeed(this, entry, topic, stream, prefetch);
            try
            {
                await feed.StartAsync(lease, prefetch, created, cancellationToken);
            }
            catch (OperationInterruptedException ex) when (ReplyCode(ex) == PreconditionFailed
                && ex.ShutdownReason?.ReplyText.Contains(StreamOffsets.Header, StringComparison.Ordinal) == true)
            {
                // "invalid arg 'x-stream-offset' ... of queue type rabbit_classic_queue": a queue that is no stream.
                throw new SubscribeException(SubscribeFailure.Conflict, $"'{stream}' is a queue, not a stream: it cannot be read as topic '{topic}'", ex);
            }

            return feed;
        }
        catch (Exception ex)
        {
            await lease.DisposeAsync();
            if (StreamReplica.NotOnThisNode(ex))
            {
                throw;
            }

            throw ex switch
            {
                SubscribeException => ex,
                OperationInterruptedException or AlreadyClosedException or BrokerUnavailableException => new SubscribeException(
                    SubscribeFailure.BrokerError, $"broker refused topic '{topic}': {Describe(ex)}", ex)
                {
                    ClientReason = $"broker refused topic '{topic}'",
                },
                OperationCanceledException when cancellationToken.IsCancellationRequested => new SubscribeException(
                    SubscribeFailure.BrokerUnavailable, "gateway is shutting down", ex),
                // A cancellation no one asked for is the client library giving up on a call the broker left unanswered
                // (its continuation timeout): a stalled node, or a frozen cluster member the stream needs. A 503 like any
                // refusal, not a 500.
                OperationCanceledException or TimeoutException => new SubscribeException(
                    SubscribeFailure.BrokerError, $"broker refused topic '{topic}': no answer from {lease.Node} ({ex.GetType().Name})", ex)
                {
                    ClientReason = $"broker refused topic '{topic}'",
                },
                _ => ex,
            };
        }
    }

    /// <summary>The stream exists afterwards, or this throws: created here only when it did not, and the rules allow it (true then).</summary>
    private async Task<bool> EnsureStreamAsync(ChannelLease lease, string topic, string stream, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            if (attempt > 0)
            {
                if (attempt > StreamCreationAttempts)
                {
                    throw new SubscribeException(SubscribeFailure.BrokerError, $"broker refused topic '{topic}': its stream '{stream}' was still being created by another connection after {(StreamCreationAttempts * StreamCreationPoll).TotalSeconds:0} s")
                    {
                        ClientReason = $"broker refused topic '{topic}'",
                    };
                }

                await Task.Delay(StreamCreationPoll, cancellationToken);
            }

            if (await TryEnsureStreamAsync(lease, topic, stream, cancellationToken) is { } created)
            {
                return created;
            }
        }
    }

    /// <summary>
    /// Whether this gateway created the stream (false: it exists), or null while another connection creates it
    /// (<see cref="StreamCreationLock"/>): it cannot be consumed before that creation is done.
    /// </summary>
    private async Task<bool?> TryEnsureStreamAsync(ChannelLease lease, string topic, string stream, CancellationToken cancellationToken)
    {
        try
        {
            await lease.Channel.QueueDeclarePassiveAsync(stream, cancellationToken);
            return await StreamCreationLock.NoneCreatingAsync(lease, stream, cancellationToken) ? false : null;
        }
        catch (OperationInterruptedException ex) when (ReplyCode(ex) == ResourceLocked)
        {
            throw new SubscribeException(SubscribeFailure.Conflict, $"'{stream}' is another connection's exclusive queue, not a stream: it cannot be read as topic '{topic}'", ex);
        }
        catch (OperationInterruptedException ex) when (ReplyCode(ex) == NotFound)
        {
            await lease.ReopenAsync(cancellationToken);
        }

        if (!MayCreate(topic))
        {
            throw new SubscribeException(SubscribeFailure.NotFound, $"topic '{topic}' does not exist (and topics.create does not allow creating it)");
        }

        if (CouldBeAClientsQueue(stream))
        {
            // Created, the stream would take the name of a client's queue for good: that client refused ever after,
            // and what services publish to it kept in a stream for whoever reads the topic.
            throw new SubscribeException(
                SubscribeFailure.Forbidden,
                $"topic '{topic}' is not created: its stream would be named like a client's queue (queue.pattern); topics.prefix keeps the names apart");
        }

        var locked = await StreamCreationLock.TryTakeAsync(lease, stream, cancellationToken);
        if (locked == false)
        {
            return null;
        }

        lock (_sync)
        {
            if (Options.CreateMax > 0 && _created >= Options.CreateMax)
            {
                throw new SubscribeException(
                    SubscribeFailure.Forbidden,
                    $"topic '{topic}' does not exist, and this gateway has created as many topics as topics.create_max allows ({Options.CreateMax.ToString(CultureInfo.InvariantCulture)})");
            }

            _created++;
        }

        try
        {
            await lease.Channel.QueueDeclareAsync(stream, durable: true, exclusive: false, autoDelete: false, StreamArguments(), cancellationToken: cancellationToken);
        }
        catch (OperationInterruptedException ex) when (ReplyCode(ex) == PreconditionFailed)
        {
            // Someone declared it meanwhile, with other arguments (or as a queue, which the consume finds out). The
            // channel closed, and with it nothing: the lock is the connection's, so it goes on the reopened channel.
            Interlocked.Decrement(ref _created);
            await lease.ReopenAsync(cancellationToken);
            if (locked == true)
            {
                await StreamCreationLock.ReleaseAsync(lease, stream);
            }

            return false;
        }
        catch
        {
            Interlocked.Decrement(ref _created);
            if (locked == true)
            {
                // The refusal closed the channel, not the lock: others would wait for it until its expiry.
                await StreamCreationLock.ReleaseQuietlyAsync(lease, stream);
            }

            throw;
        }

        if (locked == true)
        {
            // The declare was answered once the stream ran: whoever waits for the lock may consume it now.
            await StreamCreationLock.ReleaseAsync(lease, stream);
        }

        Metrics.TopicCreated();
        TopicsLog.StreamCreated(Logger, topic, stream, Options.MaxAge, Options.MaxLengthBytes);
        return true;
    }

    /// <summary>A stream queue with the configured retention.</summary>
    private Dictionary<string, object?> StreamArguments()
    {
        var arguments = new Dictionary<string, object?> { ["x-queue-type"] = "stream" };
        if (Options.MaxAge.Length > 0)
        {
            arguments["x-max-age"] = Options.MaxAge;
        }

        if (ByteSize.TryParse(Options.MaxLengthBytes, out var bytes) && bytes > 0)
        {
            arguments["x-max-length-bytes"] = bytes;
        }

        return arguments;
    }

    private static ushort ReplyCode(OperationInterruptedException ex) => ex.ShutdownReason?.ReplyCode ?? 0;

    private static string Describe(Exception ex) => ex is OperationInterruptedException { ShutdownReason: { } r }
        ? $"{r.ReplyCode} {r.ReplyText}"
        : ex.Message;

    /// <summary>The hub's record of one topic's feed: who holds it, whether it lingers, whether it is gone.</summary>
    internal sealed class Entry(string topic)
    {
        public string Topic { get; } = topic;

        /// <summary>The feed, once started (or the reason it could not be).</summary>
        public TaskCompletionSource<TopicFeed> Opened { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TopicFeed? Feed { get; set; }

        /// <summary>Subscribers holding it, and those waiting for it to open (under the hub's lock).</summary>
        public int Holders { get; set; }

        public ITimer? Linger { get; set; }

        /// <summary>No longer handed out (under the hub's lock).</summary>
        public bool Gone { get; set; }

        private int _closed;

        /// <summary>True once: for whoever closes the feed.</summary>
        public bool TryClaimClose() => Interlocked.Exchange(ref _closed, 1) == 0;
    }
}
