using Eventsourced.Broker;
using Eventsourced.Consuming;
using Eventsourced.Metrics;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Eventsourced.Topics;

/// <summary>
/// A topic as one gateway instance consumes it: ONE consumer of the topic's stream, from the events that come after
/// it started, whose every event is handed to each live subscriber's buffer (the frame made once per format) and kept
/// among the topic's recent events (<see cref="TopicRing"/>).
/// <para>
/// Everything that decides who gets which event happens under one lock (<see cref="_sync"/>, then a subscriber's
/// own lock): appending an event and handing it out, attaching a subscriber, a catching-up subscriber joining, and
/// leaving. So a subscriber that joins gets exactly the events from its <see cref="TopicSubscription.Next"/> on: those
/// the feed has (from the ring, while the lock is held) and then each new one as it is appended.
/// </para>
/// <para>
/// A subscriber that resumes from before the oldest recent event reads the stream itself (<see cref="CatchUpReader"/>)
/// and joins the feed as soon as the next offset it needs is one the feed has (or is about to get): checked after
/// each event it reads and after each event the feed appends, so neither side can leave it behind.
/// </para>
/// </summary>
internal sealed class TopicFeed : IAsyncBasicConsumer
{
    /// <summary>Most bytes of recent events a topic keeps in memory, whatever <c>topics.recent</c> allows.</summary>
    public const long MaxRecentBytes = 16L * 1024 * 1024;

    /// <summary>
    /// How far beyond this feed's latest event an id may be and still be waited for. Another gateway instance's feed
    /// of the same topic may be a little ahead (the client got its last event there): such a subscriber waits for this
    /// feed to get there, so that it gets nothing twice. An id further ahead is from another stream of the same name
    /// (deleted and declared again, its offsets started over) and reads as "new events only".
    /// </summary>
    public const long AheadTolerance = 10_000;

    /// <summary>
    /// How long a feed's start waits for the stream's last chunk (<see cref="StreamTail"/>): a stream without events
    /// sends nothing, so this is added to the start of a feed whose stream exists but is empty.
    /// </summary>
    private static readonly TimeSpan TailWait = TimeSpan.FromMilliseconds(300);

    /// <summary>Subscribers handed an event as one part (by one thread, with one reading of the clock for their latency).</summary>
    private const int HandOutPart = 256;

    private static readonly ParallelOptions HandOutParallelism = new() { MaxDegreeOfParallelism = Environment.ProcessorCount };

    private readonly object _sync = new();
    private readonly TopicRing _ring;
    private readonly List<TopicSubscription> _live = [];
    private readonly List<TopicSubscription> _catchingUp = [];
    private readonly List<IFrameFormat> _formats = [];

    // Those an event found without room at their socket or in their buffer, or behind while the heap is nearly full:
    // filled and emptied within one Append under _sync, so these serve every event (new lists per event were garbage on
    // the fan-out's hot path).
    private readonly List<TopicSubscription> _noRoom = [];
    private readonly List<TopicSubscription> _bufferFull = [];
    private readonly List<TopicSubscription> _overMemory = [];

    private readonly TopicHub _hub;
    private readonly int _ackEvery;
    private ChannelLease? _lease;
    private long _next = -1;
    private long _first = -1;
    private long? _beforeFirst;
    private SubscriptionEndReason? _ended;
    private int _unacknowledged;
    private long _writtenDirectly;

    public TopicFeed(TopicHub hub, TopicHub.Entry entry, string topic, string stream, int prefetch)
    {
        _hub = hub;
        Entry = entry;
        Topic = topic;
        Stream = stream;
        _ackEvery = Math.Max(1, prefetch / 2);
        _ring = new TopicRing(hub.Options.Recent, MaxRecentBytes);
    }

    /// <summary>The hub's record of this feed (who holds it, when it lingers).</summary>
    public TopicHub.Entry Entry { get; }

    public string Topic { get; }

    /// <summary>The stream queue: <c>topics.prefix</c> and the topic's name.</summary>
    public string Stream { get; }

    public string Node => Volatile.Read(ref _lease)?.Node ?? "-";

    /// <summary>The channel it consumes on, until it closes.</summary>
    public IChannel? Channel => Volatile.Read(ref _lease)?.Channel;

    /// <summary>The offset of the next event the feed will get; -1 until its first event (it started at the stream's end).</summary>
    public long NextOffset => Volatile.Read(ref _next);

    /// <summary>Events it wrote straight to subscribers' sockets (<see cref="TopicSubscription.Deliver"/>), since it started.</summary>
    public long WrittenDirectly => Interlocked.Read(ref _writtenDirectly);

    /// <summary>Subscribers reading from it or catching up to it.</summary>
    public int Subscribers
    {
        get
        {
            lock (_sync)
            {
                return _live.Count + _catchingUp.Count;
            }
        }
    }

    /// <summary>Consumes the stream on <paramref name="lease"/> from its next event on.</summary>
    /// <exception cref="OperationInterruptedException">The broker refused (406 when the queue is not a stream).</exception>
    public async Task StartAsync(ChannelLease lease, int prefetch, bool created, CancellationToken cancellationToken)
    {
        Volatile.Write(ref _lease, lease);
        // Where a subscriber that joins before the first event starts: a stream just created starts with its first
        // event; another is found out before the feed's own consume, so that it is never past the feed's first event.
        // A stream that delivers nothing from its end holds no event (RabbitMQ keeps at least the segment with a
        // stream's last event): it starts with its first event too. Without an id there, a page cut off before its
        // first event came back without Last-Event-ID and missed what was published meanwhile.
        var beforeFirst = created ? -1 : await StreamTail.FindAsync(lease.Channel, Stream, TailWait, _hub.Time, cancellationToken) ?? -1;
        lock (_sync)
        {
            _beforeFirst = beforeFirst;
        }

        await lease.Channel.BasicQosAsync(0, (ushort)prefetch, global: false, cancellationToken);
        await lease.Channel.BasicConsumeAsync(
            Stream, autoAck: false, consumerTag: string.Empty, noLocal: false, exclusive: false,
            arguments: new Dictionary<string, object?> { [StreamOffsets.Header] = "next" }, consumer: this, cancellationToken: cancellationToken);
    }

    /// <summary>
    /// A new subscriber, reading <paramref name="format"/>'s frames: from the next event (no <paramref name="resumeAfter"/>),
    /// or from the event after <paramref name="resumeAfter"/>: out of the recent events when the feed has them (and
    /// they fit its buffer), else through a <see cref="CatchUpReader"/> (in <see cref="TopicSubscription.CatchUp"/>,
    /// not started: <paramref name="catchUp"/>, to start from <paramref name="catchUpFrom"/>). An id beyond the topic's
    /// last event reads as "new events only".
    /// </summary>
    /// <exception cref="FeedEndedException">The feed has ended (its consumer or connection is gone).</exception>
    public TopicSubscription Attach(IFrameFormat format, long? resumeAfter, out CatchUpReader? catchUp, out long catchUpFrom)
    {
        var subscription = new TopicSubscription(this, format, _hub.Options.Buffer);
        catchUp = null;
        catchUpFrom = -1;
        lock (_sync)
        {
            if (_ended is { } ended)
            {
                throw new FeedEndedException($"the topic's consumer has just ended ({ended})");
            }

            if (!_formats.Contains(format))
            {
                _formats.Add(format);
            }

            lock (subscription.Sync)
            {
                var next = resumeAfter is { } after ? after + 1 : -1;
                // How far the stream goes: the feed's next offset once it has had an event; before that, the start of the
                // stream's last chunk found when the feed started (at most a chunk short of the end), so that an id from an
                // earlier stream is told apart on a feed that has had no event too. Without it such a subscriber waited,
                // told nothing, and when cut off before its first event came back with that id, missing what came meanwhile.
                var end = _next >= 0 ? _next : _beforeFirst is { } before ? before + 1 : -1;
                if (next < 0 || (end >= 0 && next > end + AheadTolerance))
                {
                    // New events only: asked for, or an id from another stream of the same name. Once the feed has had
                    // an event, the client is told the last one's id before anything else, so that it resumes from here.
                    subscription.Next = _next;
                    subscription.StartsAfter = _next > 0 ? _next - 1 : _beforeFirst;
                    AddLive(subscription);
                }
                else if (_next >= 0 && next >= _first && next <= _next && _next - next <= subscription.RoomToJoin)
                {
                    subscription.Next = next;
                    HandOverRecent(subscription);
                    AddLive(subscription);
                }
                else
                {
                    subscription.Next = next;
                    subscription.State = TopicReaderState.CatchingUp;
                    if (_next < 0 || next < _next)
                    {
                        // Older than the recent events (or the feed has none yet): read the stream until it joins.
                        subscription.CatchUp = catchUp = new CatchUpReader(subscription, this);
                        catchUpFrom = next;
                    }

                    // Else a little ahead of this feed (from another instance): it joins when the feed gets there.
                    _catchingUp.Add(subscription);
                }
            }
        }

        return subscription;
    }

    /// <summary>
    /// Called by a catching-up subscriber's reader after each event: joins it to the feed when the next offset it needs
    /// is one the feed has, or the feed's next (it has caught up), and the events from there fit its buffer.
    /// </summary>
    public void TryJoin(TopicSubscription subscription)
    {
        // Without the lock first: the subscriber is far behind most of the time, and the feed's lock is busy handing out.
        var next = Volatile.Read(ref _next);
        if (next < 0 || subscription.Next < Volatile.Read(ref _first) || subscription.Next > next)
        {
            return;
        }

        CatchUpReader? reader;
        lock (_sync)
        {
            reader = TryJoinLocked(subscription);
        }

        reader?.Close();
    }

    /// <summary>The subscriber leaves: forgotten here (the hub may then stop the feed), its own reader closed.</summary>
    public void Leave(TopicSubscription subscription)
    {
        CatchUpReader? reader;
        lock (_sync)
        {
            RemoveLive(subscription);
            _catchingUp.Remove(subscription);
            lock (subscription.Sync)
            {
                subscription.State = TopicReaderState.Ended;
                reader = subscription.CatchUp;
                subscription.CatchUp = null;
            }
        }

        reader?.Close();
        _hub.Release(this);
    }

    /// <summary>Stops consuming (no subscriber is left, or the gateway stops): the channel closes; nobody is handed anything more.</summary>
    public async ValueTask CloseAsync(SubscriptionEndReason reason)
    {
        EndAll(reason);
        if (Interlocked.Exchange(ref _lease, null) is { } lease)
        {
            await lease.DisposeAsync();
        }
    }

    public async Task HandleBasicDeliverAsync(
        string consumerTag,
        ulong deliveryTag,
        bool redelivered,
        string exchange,
        string routingKey,
        IReadOnlyBasicProperties properties,
        ReadOnlyMemory<byte> body,
        CancellationToken cancellationToken = default)
    {
        if (StreamOffsets.Of(properties) is { } offset)
        {
            if (body.Length > MaxEventBytes)
            {
                Skip(offset, body.Length);
            }
            else
            {
                Append(new TopicEvent(offset, body.ToArray(), properties, MessageTimestamp.From(properties)));
            }
        }

        // A stream sends a consumer at most its prefetch of unacknowledged events: acknowledge as they come, in batches.
        if (++_unacknowledged >= _ackEvery && Volatile.Read(ref _lease) is { } lease)
        {
            _unacknowledged = 0;
            try
            {
                await lease.Channel.BasicAckAsync(deliveryTag, multiple: true, cancellationToken);
            }
            catch (Exception ex) when (ex is AlreadyClosedException or OperationInterruptedException)
            {
                // The channel is going: its shutdown ends the feed.
            }
        }
    }

    public Task HandleBasicCancelAsync(string consumerTag, CancellationToken cancellationToken = default) => EndedAsync(SubscriptionEndReason.ConsumerCancelled);

    /// <summary>The channel closed: with its connection (a node lost), its subscribers are told so, as a queue's are.</summary>
    public Task HandleChannelShutdownAsync(object channel, ShutdownEventArgs reason) =>
        EndedAsync(Volatile.Read(ref _lease) is { ConnectionOpen: false } ? SubscriptionEndReason.BrokerConnectionLost : SubscriptionEndReason.ChannelClosed);

    public Task HandleBasicCancelOkAsync(string consumerTag, CancellationToken cancellationToken = default) => Task.CompletedTask;

    public Task HandleBasicConsumeOkAsync(string consumerTag, CancellationToken cancellationToken = default) => Task.CompletedTask;

    /// <summary><c>queue.max_message_bytes</c>: a larger event is never framed nor handed out (see <see cref="TopicHub.MaxEventBytes"/>).</summary>
    public int MaxEventBytes => _hub.MaxEventBytes;

    /// <summary>
    /// An event over <see cref="MaxEventBytes"/>: handed to nobody, but passed, as if it had been handed out, so that
    /// the feed's next offset (a new subscriber's opening id, a catching-up reader's join) lies beyond it. Counted and
    /// logged here, once per instance; catching-up readers pass over it without a word.
    /// </summary>
    private void Skip(long offset, int bytes)
    {
        List<CatchUpReader>? joined = null;
        lock (_sync)
        {
            if (_ended is not null || offset < _next)
            {
                return;
            }

            _next = offset + 1;
            _first = _ring.Count > 0 ? _ring.FirstOffset : _next;
            for (var i = _catchingUp.Count - 1; i >= 0; i--)
            {
                if (TryJoinLocked(_catchingUp[i]) is { } reader)
                {
                    (joined ??= []).Add(reader);
                }
            }
        }

        _hub.Metrics.MessageRejected(MessageRejectReasons.TooLarge);
        TopicsLog.EventTooLarge(_hub.Logger, Topic, offset, bytes, MaxEventBytes);
        joined?.ForEach(reader => reader.Close());
    }

    /// <summary>Keeps the event among the recent ones and hands it to every live subscriber (ending those with no room).</summary>
    private void Append(TopicEvent topicEvent)
    {
        List<TopicSubscription>? slow = null;
        List<CatchUpReader>? joined = null;
        lock (_sync)
        {
            if (_ended is not null || topicEvent.Offset < _next)
            {
                return;
            }

            // Framed for every format in use before it is counted among the recent events (and before the
            // subscribers are handed it, maybe by several threads, which then only read the frames).
            foreach (var format in _formats)
            {
                topicEvent.FramesFor(format);
            }

            _ring.Add(topicEvent);
            _next = topicEvent.Offset + 1;
            _first = _ring.Count > 0 ? _ring.FirstOffset : _next;

            var live = _live;
            var noRoom = _noRoom;
            var bufferFull = _bufferFull;
            var overMemory = _overMemory;
            noRoom.Clear(); // empty unless the last hand-out threw midway
            bufferFull.Clear();
            overMemory.Clear();
            if (live.Count >= 2 * HandOutPart && Environment.ProcessorCount > 1)
            {
                // Writing to thousands of sockets is most of a fan-out's work: every core takes parts of the list.
                Parallel.For(0, (live.Count + HandOutPart - 1) / HandOutPart, HandOutParallelism, part =>
                    HandOut(topicEvent, live, part * HandOutPart, Math.Min(live.Count, (part + 1) * HandOutPart), noRoom, bufferFull, overMemory));
            }
            else
            {
                for (var from = 0; from < live.Count; from += HandOutPart)
                {
                    HandOut(topicEvent, live, from, Math.Min(live.Count, from + HandOutPart), noRoom, bufferFull, overMemory);
                }
            }

            foreach (var subscription in overMemory)
            {
                // Behind while the heap is nearly full: ended, and what its buffer held let go at once (a queue's stream
                // in the same state is ended too); it resumes from its last id when it reconnects.
                EndLiveLocked(subscription);
                subscription.EndLettingGo(SubscriptionEndReason.MemoryFull);
            }

            overMemory.Clear();
            foreach (var subscription in bufferFull)
            {
                if (subscription.IsStopped || subscription.EndReason is not null)
                {
                    EndLiveLocked(subscription); // leaving, or ended by its transport: it goes, not counted as slow
                    continue;
                }

                // A burst larger than its buffer, or a client that stopped reading: it is handed this event and the next
                // from the recent ones as its writer makes room (the loop below, CatchUpFromMemory), and ended only if
                // it falls further behind than they reach. Before, a client that read as fast as it could was ended by
                // any burst larger than topics.buffer (a WebSocket, without direct writes, at once).
                RemoveLive(subscription);
                lock (subscription.Sync)
                {
                    subscription.State = TopicReaderState.CatchingUp;
                    subscription.Next = topicEvent.Offset;
                    subscription.FellBehind = true;
                }

                _catchingUp.Add(subscription);
            }

            bufferFull.Clear();
            slow = noRoom.Count > 0 ? [.. noRoom] : null;
            noRoom.Clear();
            if (slow is not null)
            {
                slow.ForEach(EndLiveLocked);

                // One that is leaving (its reader stopped) has no room for anything either: it is not slow; nor is
                // one that ended for another reason first (its writer timed out, say).
                slow.RemoveAll(subscription => subscription.IsStopped || !subscription.End(SubscriptionEndReason.SlowReader));
            }

            for (var i = _catchingUp.Count - 1; i >= 0; i--)
            {
                var subscription = _catchingUp[i];
                if (subscription.FellBehind)
                {
                    if (CatchUpFromMemoryLocked(subscription) == Behind.OutOfReach)
                    {
                        (slow ??= []).Add(subscription);
                    }
                }
                else if (TryJoinLocked(subscription) is { } reader)
                {
                    (joined ??= []).Add(reader);
                }
            }
        }

        _hub.Metrics.TopicEvent();
        slow?.ForEach(SlowSubscriberEnded);
        joined?.ForEach(reader => reader.Close());
    }

    /// <summary>
    /// A subscriber was ended as slow: by the feed (its buffer full when an event came), its catch-up reader (the
    /// same while it reads the stream), or its transport (more than its buffer waited at its socket). Counted here,
    /// whichever found it, once.
    /// </summary>
    public void SlowSubscriberEnded(TopicSubscription subscription)
    {
        _hub.Metrics.TopicSlowSubscriber();
        TopicsLog.SlowSubscriberEnded(_hub.Logger, Topic, subscription.Capacity);
    }

    /// <summary>
    /// Under <see cref="_sync"/> (maybe on several threads at once, each with its own part of <paramref name="live"/>):
    /// hands <paramref name="topicEvent"/> to the live subscribers from <paramref name="from"/> to <paramref name="to"/>;
    /// those without room at their socket go to <paramref name="noRoom"/>, those without room in their buffer to
    /// <paramref name="bufferFull"/>, those behind while the heap is nearly full to <paramref name="overMemory"/>. What it
    /// writes to sockets itself it counts as delivered.
    /// </summary>
    private void HandOut(
        TopicEvent topicEvent, List<TopicSubscription> live, int from, int to, List<TopicSubscription> noRoom, List<TopicSubscription> bufferFull, List<TopicSubscription> overMemory)
    {
        IFrameFormat? lastFormat = null;
        OutboundItem item = default;
        byte[] chunk = [];
        var written = 0;
        long bytes = 0;
        for (var i = from; i < to; i++)
        {
            var subscription = live[i];
            if (!ReferenceEquals(subscription.Format, lastFormat))
            {
                lastFormat = subscription.Format;
                (item, chunk) = topicEvent.FramesFor(lastFormat);
            }

            switch (subscription.Deliver(item, chunk))
            {
                case Handed.Written:
                    written++;
                    bytes += item.Length;
                    break;
                case Handed.NoRoom:
                    lock (noRoom)
                    {
                        noRoom.Add(subscription);
                    }

                    break;
                case Handed.BufferFull:
                    lock (bufferFull)
                    {
                        bufferFull.Add(subscription);
                    }

                    break;
                case Handed.BufferedBehind when MemoryNearlyFull():
                    lock (overMemory)
                    {
                        overMemory.Add(subscription);
                    }

                    break;
            }
        }

        if (written > 0)
        {
            Interlocked.Add(ref _writtenDirectly, written);
            var metrics = _hub.Metrics;
            metrics.Delivered(written, bytes);
            metrics.DeliveryLatency(item.Published, _hub.Time.GetUtcNow(), written);
        }
    }

    /// <summary>Whether the heap is nearly full (<see cref="MessageLimits.MemoryNearlyFull"/>), asked only for a subscriber that is behind.</summary>
    public bool MemoryNearlyFull() => _hub.Limits?.MemoryNearlyFull() == true;

    /// <summary>
    /// A subscriber that fell behind (<see cref="TopicSubscription.FellBehind"/>) has room again (its writer wrote what
    /// its buffer held): it is handed the recent events that fit, and joins once it has them all (or is ended as slow when
    /// it fell further behind than the recent events reach).
    /// </summary>
    public void CatchUpFromMemory(TopicSubscription subscription)
    {
        Behind behind;
        lock (_sync)
        {
            // Not _catchingUp.Contains: a scan of every subscriber behind at each acknowledgement of each of them (after a
            // burst at 10,000 subscribers, 10,000 x 10,000 under the feed's lock). Its state says as much: it is among
            // them while it is catching up, and an ended feed has let all of them go (its state follows, outside the lock).
            behind = _ended is null ? CatchUpFromMemoryLocked(subscription) : Behind.Joined;
        }

        if (behind == Behind.OutOfReach)
        {
            SlowSubscriberEnded(subscription);
        }
    }

    /// <summary>What became of a subscriber that fell behind (<see cref="CatchUpFromMemoryLocked"/>).</summary>
    private enum Behind
    {
        /// <summary>Handed what fitted; more of the recent events wait for room.</summary>
        Behind,

        /// <summary>It had them all: live again (or it is no longer the feed's to hand anything: ended, leaving).</summary>
        Joined,

        /// <summary>What it needs next is older than the recent events: ended as slow (counted by the caller, outside the lock).</summary>
        OutOfReach,
    }

    /// <summary>
    /// Under <see cref="_sync"/>: hands a subscriber that fell behind the recent events from its <see cref="TopicSubscription.Next"/>
    /// on while its buffer has room (keeping a quarter free, as a join does, for the events that come meanwhile), and joins
    /// it once it has every event the feed has.
    /// </summary>
    private Behind CatchUpFromMemoryLocked(TopicSubscription subscription)
    {
        lock (subscription.Sync)
        {
            if (subscription.State != TopicReaderState.CatchingUp)
            {
                _catchingUp.Remove(subscription);
                return Behind.Joined;
            }

            if (subscription.IsStopped || subscription.EndReason is not null || !subscription.FellBehind)
            {
                return Behind.Joined; // leaving, or ended (its Leave forgets it), or not behind the feed's recent events
            }

            if (subscription.Next < _first)
            {
                // Further behind than the recent events reach: ended, as every slow subscriber was before; it resumes from
                // its last id when it reconnects, reading the stream.
                _catchingUp.Remove(subscription);
                subscription.State = TopicReaderState.Ended;
                return subscription.End(SubscriptionEndReason.SlowReader) ? Behind.OutOfReach : Behind.Joined;
            }

            for (var i = _ring.IndexAtOrAfter(subscription.Next); i < _ring.Count; i++)
            {
                if (subscription.RoomToJoin <= 0 || !subscription.TryAdd(_ring[i].ItemFor(subscription.Format)))
                {
                    return Behind.Behind; // more when its writer has made room (a failed add: it ended or leaves meanwhile)
                }

                subscription.Next = _ring[i].Offset + 1;
            }

            // Every recent event from its next on (and past any the feed passed over for their size): live again.
            subscription.Next = _next;
            subscription.FellBehind = false;
            _catchingUp.Remove(subscription);
            AddLive(subscription);
            return Behind.Joined;
        }
    }

    /// <summary>Under <see cref="_sync"/>: joins a catching-up subscriber if it can; returns its reader, to close outside the lock.</summary>
    private CatchUpReader? TryJoinLocked(TopicSubscription subscription)
    {
        if (_next < 0)
        {
            return null;
        }

        lock (subscription.Sync)
        {
            if (subscription.State != TopicReaderState.CatchingUp)
            {
                return null;
            }

            if (subscription.Next > _next)
            {
                if (subscription.DeliveredFromStream || subscription.Next <= _next + AheadTolerance)
                {
                    return null; // its reader, or its id, is ahead of the feed: the feed will get there
                }

                // An id from another stream of the same name (and its reader has found nothing): new events only,
                // which is the one just appended (this runs at the first append after it came) if memory holds it.
                subscription.Next = Math.Max(_first, _next - 1);
            }

            if (subscription.Next < _first || _next - subscription.Next > subscription.RoomToJoin)
            {
                return null;
            }

            HandOverRecent(subscription);
            _catchingUp.Remove(subscription);
            AddLive(subscription);
            var reader = subscription.CatchUp;
            subscription.CatchUp = null;
            return reader;
        }
    }

    /// <summary>
    /// Under both locks: the recent events from the subscriber's <see cref="TopicSubscription.Next"/> on, into its
    /// buffer (checked for room: an add fails only for a subscriber whose reader has just stopped, which leaves anyway).
    /// </summary>
    private void HandOverRecent(TopicSubscription subscription)
    {
        for (var i = _ring.IndexAtOrAfter(subscription.Next); i < _ring.Count; i++)
        {
            subscription.TryAdd(_ring[i].ItemFor(subscription.Format));
        }

        subscription.Next = _next;
    }

    /// <summary>Under both locks.</summary>
    private void AddLive(TopicSubscription subscription)
    {
        subscription.State = TopicReaderState.Live;
        subscription.LiveIndex = _live.Count;
        _live.Add(subscription);
    }

    /// <summary>Under <see cref="_sync"/>: swaps the last live subscriber into its place (order does not matter).</summary>
    /// <summary>Under <see cref="_sync"/>: a live subscriber is handed nothing more (the caller ends it, or it is leaving).</summary>
    private void EndLiveLocked(TopicSubscription subscription)
    {
        RemoveLive(subscription);
        lock (subscription.Sync)
        {
            subscription.State = TopicReaderState.Ended;
        }
    }

    private void RemoveLive(TopicSubscription subscription)
    {
        var index = subscription.LiveIndex;
        if (index < 0 || index >= _live.Count || !ReferenceEquals(_live[index], subscription))
        {
            return;
        }

        var last = _live[^1];
        _live[index] = last;
        last.LiveIndex = index;
        _live.RemoveAt(_live.Count - 1);
        subscription.LiveIndex = -1;
    }

    /// <summary>The broker ended the consumer (stream deleted) or its channel: every subscriber ends, the hub forgets the feed.</summary>
    private Task EndedAsync(SubscriptionEndReason reason)
    {
        if (EndAll(reason))
        {
            TopicsLog.FeedEnded(_hub.Logger, Topic, reason);
            _hub.Forget(this);
        }

        return Task.CompletedTask;
    }

    /// <summary>Ends every subscriber, once; true for the call that did.</summary>
    private bool EndAll(SubscriptionEndReason reason)
    {
        TopicSubscription[] everyone;
        lock (_sync)
        {
            if (_ended is not null)
            {
                return false;
            }

            _ended = reason;
            everyone = [.. _live, .. _catchingUp];
            _live.Clear();
            _catchingUp.Clear();
        }

        foreach (var subscription in everyone)
        {
            CatchUpReader? reader;
            lock (subscription.Sync)
            {
                subscription.State = TopicReaderState.Ended;
                reader = subscription.CatchUp;
                subscription.CatchUp = null;
            }

            reader?.Close();
            subscription.End(reason);
        }

        return true;
    }
}

/// <summary>A feed ended by the broker was asked for a subscriber: the hub opens a new feed (once), else the subscriber gets a 503.</summary>
internal sealed class FeedEndedException(string reason) : SubscribeException(SubscribeFailure.BrokerError, reason);
