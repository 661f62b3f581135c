using System.Threading.Channels;
using Eventsourced.Consuming;
using Eventsourced.Sockets;

namespace Eventsourced.Topics;

/// <summary>Where a topic subscriber reads from.</summary>
internal enum TopicReaderState
{
    /// <summary>From the stream, through a reader of its own (<see cref="CatchUpReader"/>), until it reaches the shared feed.</summary>
    CatchingUp,

    /// <summary>From the topic's shared feed, which hands it every event as it arrives.</summary>
    Live,

    /// <summary>Gone: nothing more is handed to it.</summary>
    Ended,
}

/// <summary>What became of an event handed to a subscriber (<see cref="TopicSubscription.Deliver"/>).</summary>
internal enum Handed
{
    /// <summary>Written to its socket (or waiting there, in order, for the client to read).</summary>
    Written,

    /// <summary>Added to its buffer, for its writer.</summary>
    Buffered,

    /// <summary>Added to its buffer, behind more than one event its writer has not taken: the client does not read as fast as events come.</summary>
    BufferedBehind,

    /// <summary>No room at its socket (more than it may wait there): its client does not read.</summary>
    NoRoom,

    /// <summary>No room in its buffer: its writer has the whole buffer to write (a burst larger than it, or a client that does not read).</summary>
    BufferFull,

    /// <summary>Its writer has closed the socket's side: it is leaving.</summary>
    Leaving,
}

/// <summary>
/// One subscriber of a topic, as its transport reads it: a bounded buffer of the topic's events (frames shared with
/// every other subscriber of the same format) and control items. The topic's feed (<see cref="TopicFeed"/>) fills
/// it while the subscriber is <see cref="TopicReaderState.Live"/>; before that, a <see cref="CatchUpReader"/> fills
/// it from the stream; while it does, <see cref="Next"/> is the offset it needs next: it has had every event before
/// that, each once. A subscriber whose buffer is full when an event comes falls behind (<see cref="FellBehind"/>): it
/// is handed the feed's recent events from that one on as its writer makes room, and joins again when it has them all;
/// one that falls further behind than the recent events reach, or whose socket is full, is ended
/// (<see cref="SubscriptionEndReason.SlowReader"/>): it never holds back the feed, and it resumes from its last id when
/// it reconnects.
/// Once live, an SSE subscriber's writer may hand the feed its socket (<see cref="IDirectWrites"/>): the feed then
/// writes each event's shared chunk itself whenever the buffer is empty (<see cref="Deliver"/>).
/// </summary>
internal sealed class TopicSubscription : ISubscription, IDirectWrites, IStartPosition
{
    private readonly Channel<OutboundItem> _items;
    private readonly TopicFeed _feed;
    private int _endReason = -1;
    private int _state;
    private ControlSignals _signals;
    private int _disposed;
    private int _stopped;
    private DirectChunkWriter? _direct;
    private long _writtenDirectly;

    public TopicSubscription(TopicFeed feed, IFrameFormat format, int capacity)
    {
        _feed = feed;
        Format = format;
        Capacity = capacity;
        // Messages are written only while fewer than `capacity` wait (HasRoom), and at most one heartbeat and one
        // wake-up wait at a time (ControlSignals): capacity + 2 always fits.
        _items = Channel.CreateBounded<OutboundItem>(new BoundedChannelOptions(capacity + 2)
        {
            // Its writer reads, and so does the feed when it ends it for memory (LetGo).
            SingleReader = false,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    /// <summary>Guards <see cref="State"/>, <see cref="Next"/>, <see cref="DeliveredFromStream"/> and <see cref="CatchUp"/>; taken after the feed's lock, never before it.</summary>
    public object Sync { get; } = new();

    public IFrameFormat Format { get; }

    public bool MayWriteDirectly => State == TopicReaderState.Live;

    public long WrittenDirectly => Interlocked.Read(ref _writtenDirectly);

    /// <summary>Messages the buffer holds at most.</summary>
    public int Capacity { get; }

    /// <summary>Where it reads from; written under <see cref="Sync"/>.</summary>
    public TopicReaderState State
    {
        get => (TopicReaderState)Volatile.Read(ref _state);
        set => Volatile.Write(ref _state, (int)value);
    }

    /// <summary>While it catches up (and when it joins): the offset it needs next. Not kept up to date once it is live.</summary>
    public long Next { get; set; } = -1;

    /// <summary>
    /// The offset of the topic's event just before its first, when it asked for new events only and the feed knew
    /// it (it had events then, or found the stream's end when it started; -1 before the stream's first event)
    /// (<see cref="IStartPosition"/>); set once, when it attaches.
    /// </summary>
    public long? StartsAfter { get; set; }

    public string? StartsAfterId => StartsAfter switch
    {
        null => null,
        < 0 => TopicTarget.Earliest, // before the stream's first event
        { } after => after.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>Its catch-up reader handed it at least one event (so <see cref="Next"/> is a real position, not a requested one).</summary>
    public bool DeliveredFromStream { get; set; }

    /// <summary>Its reader of the stream while it catches up; null once it joined the feed.</summary>
    public CatchUpReader? CatchUp { get; set; }

    /// <summary>
    /// It was live and an event found its buffer full: it catches up from the feed's recent events, as its writer makes
    /// room (<see cref="TopicFeed.CatchUpFromMemory"/>), without a reader of the stream. Written under <see cref="Sync"/>.
    /// </summary>
    public bool FellBehind { get; set; }

    /// <summary>Its place in the feed's list of live subscribers (the feed's business).</summary>
    public int LiveIndex { get; set; } = -1;

    public string Name => _feed.Topic;

    public string Node => _feed.Node;

    public ChannelReader<OutboundItem> Items => _items.Reader;

    public SubscriptionEndReason? EndReason => Volatile.Read(ref _endReason) is var r and >= 0 ? (SubscriptionEndReason)r : null;

    /// <summary>While it reads the stream through its own reader, what it wrote is acknowledged to that reader (flow control).</summary>
    public bool RequiresAcknowledgement => State == TopicReaderState.CatchingUp;

    /// <summary>Messages that may still be added before the buffer is full.</summary>
    public int Room => Capacity - _items.Reader.Count;

    /// <summary>
    /// How many events it may be handed when it joins the feed: its room less a quarter of its buffer, so that the
    /// feed's next events find room while its writer works through the handover (a buffer filled to the brim at
    /// the join would end it as slow at the very next event).
    /// </summary>
    public int RoomToJoin => Room - Math.Max(4, Capacity / 4);

    /// <summary>Adds a message unless the buffer is full (or the subscription ended): false then.</summary>
    public bool TryAdd(OutboundItem message) => TryAdd(message, out _);

    /// <summary>As <see cref="TryAdd(OutboundItem)"/>; <paramref name="waiting"/>: the items its writer had not taken before.</summary>
    private bool TryAdd(OutboundItem message, out int waiting)
    {
        waiting = _items.Reader.Count;
        return waiting < Capacity && _items.Writer.TryWrite(message);
    }

    /// <summary>
    /// Whether more than one item waits for its writer: the one a writer that keeps up may have waiting while it writes
    /// the one before, and more (as a queue's consumer counts a stream behind).
    /// </summary>
    public bool IsBehind => _items.Reader.Count > 1;

    /// <summary>
    /// Hands it one of the feed's events: written to the socket at once when its writer handed the feed one and
    /// nothing waits in its buffer (<paramref name="chunk"/>, the event's frame as a chunk), else added to the buffer
    /// (<paramref name="item"/>).
    /// </summary>
    public Handed Deliver(OutboundItem item, ReadOnlySpan<byte> chunk)
    {
        if (Volatile.Read(ref _direct) is { } direct)
        {
            lock (direct.Sync)
            {
                if (_items.Reader.Count == 0)
                {
                    switch (direct.WriteChunkLocked(chunk))
                    {
                        case DirectWrite.Sent or DirectWrite.Queued:
                            Interlocked.Increment(ref _writtenDirectly);
                            return Handed.Written;
                        case DirectWrite.Full:
                            return Handed.NoRoom;
                        default:
                            return Handed.Leaving;
                    }
                }
            }
        }

        return !TryAdd(item, out var waiting) ? Handed.BufferFull : waiting > 1 ? Handed.BufferedBehind : Handed.Buffered;
    }

    public void WriteDirectly(DirectChunkWriter writer) => Volatile.Write(ref _direct, writer);

    /// <summary>Its transport's direct writes ended it; ended as slow, it counts as the feed's slow subscribers do.</summary>
    public void DirectWriteEnded(SubscriptionEndReason reason)
    {
        if (End(reason) && reason == SubscriptionEndReason.SlowReader)
        {
            _feed.SlowSubscriberEnded(this);
        }
    }

    /// <summary>
    /// Ends the subscription from the broker's side (slow, feed gone, stream deleted); the first reason wins: true
    /// when it was this one.
    /// </summary>
    public bool End(SubscriptionEndReason reason)
    {
        var won = Interlocked.CompareExchange(ref _endReason, (int)reason, -1) == -1;
        _items.Writer.TryComplete();
        return won;
    }

    /// <summary>
    /// Ends it (unless it ended already: false then) and lets go of what waits in its buffer at once: its client is behind
    /// and the heap nearly full, and a writer waiting on a client that does not read would hold it until
    /// <c>server.write_timeout</c>. It resumes from its last id when it reconnects.
    /// </summary>
    public bool EndLettingGo(SubscriptionEndReason reason)
    {
        var won = End(reason);
        while (_items.Reader.TryRead(out var left))
        {
            if (left.IsMessage)
            {
                left.Release();
            }
            else
            {
                _signals.Taken(left);
            }
        }

        return won;
    }

    public void QueueHeartbeat() => _signals.QueueHeartbeat(_items.Writer, Format.Heartbeat);

    public void QueueWakeup() => _signals.QueueWakeup(_items.Writer);

    public void Taken(OutboundItem control) => _signals.Taken(control);

    /// <summary>Its reader is done (client gone, shutdown) or it was disposed: a failed <see cref="TryAdd"/> then means nothing.</summary>
    public bool IsStopped => Volatile.Read(ref _stopped) != 0;

    public void Stop()
    {
        Volatile.Write(ref _stopped, 1);
        _items.Writer.TryComplete();
    }

    /// <summary>
    /// While catching up: the client has every event up to the tag's offset, so its reader may read further; one that
    /// fell behind is handed the next of the feed's recent events that fit the room its writer made.
    /// </summary>
    public ValueTask AcknowledgeAsync(ulong tag, bool multiple, CancellationToken cancellationToken = default)
    {
        if (CatchUp is { } reader)
        {
            return reader.AcknowledgeAsync(TopicEvent.OffsetOf(tag), cancellationToken);
        }

        if (FellBehind)
        {
            _feed.CatchUpFromMemory(this);
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>A stream keeps every event: there is nothing to give back.</summary>
    public ValueTask RequeueAsync(ulong tag, bool multiple, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    /// <summary>Leaves the topic: the feed forgets it, its catch-up reader (if any) closes.</summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Stop();
            _feed.Leave(this);
            // Frames of its own (from the stream) go back to the pool; shared ones stay with the feed.
            while (_items.Reader.TryRead(out var left))
            {
                left.Release();
            }
        }

        return ValueTask.CompletedTask;
    }
}
