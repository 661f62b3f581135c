using Eventsourced.Consuming;
using Eventsourced.Logging;
using Eventsourced.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Eventsourced.Broker;

/// <summary>
/// The gateway's broker connections: one supervised connection per <c>broker.node</c> entry, and more
/// to the same nodes when every connection is at its <c>channel_max</c>. Subscribers lease a channel on
/// the least loaded connection that is up; with none up they are refused at once. The gateway's own publishers
/// (WebSocket clients' publishes, presence events) lease on connections of their own, one per node at most, opened
/// on first use: during a resource alarm the broker stops reading every connection that publishes, and subscribers
/// must not be on it then (RabbitMQ's advice: separate connections for publishing and consuming).
/// </summary>
internal sealed class BrokerPool : IHostedService, IAsyncDisposable
{
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(5);
    private const int MaxLeaseAttempts = 4;

    /// <summary>AMQP 530 NOT_ALLOWED: a connection error, the connection is closed.</summary>
    private const ushort NotAllowed = 530;

    private readonly BrokerOptions _options;
    private readonly TimeProvider _time;
    private readonly GatewayMetrics _metrics;
    private readonly ILogger<BrokerPool> _logger;
    private readonly Backoff _backoff;
    private readonly LogDigest _refusals;

    /// <summary>Why a publisher's lease failed: no publishing connection could be opened (no node up for it).</summary>
    private const string NoPublisherConnection = "no broker connection for publishing is up";

    /// <summary>
    /// What event 206 says follows from <see cref="NoPublisherConnection"/>: the publishers fail, not the subscribers, whose
    /// connections may well be up (a broker user's connection limit, a policy closing the publishing connection).
    /// </summary>
    private const string NoPublisherConsequence = "WebSocket clients' publishes and presence events fail";

    /// <summary>The start of event 206's reason when the publishing connection cannot open a channel (its consequence is <see cref="NoPublisherConsequence"/>).</summary>
    private const string PublisherChannelRefused = "cannot open a publishing channel on ";
    private readonly SemaphoreSlim _grow = new(1, 1);
    private readonly SemaphoreSlim _openPublisher = new(1, 1);
    private readonly SemaphoreSlim _openForStreams = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _supervisors = [];
    private ConnectionSlot[] _slots = [];
    private ConnectionSlot?[] _publishers = [];
    private ConnectionSlot?[] _forStreams = [];
    private BrokerUrl[] _urls = [];
    private static int s_instances;
    private int _nextGrowUrl;
    private int _stopped;

    public BrokerPool(IOptions<BrokerOptions> options, TimeProvider time, GatewayMetrics metrics, ILogger<BrokerPool> logger)
    {
        _options = options.Value;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        ConnectionNamePrefix = $"eventsourced {Environment.MachineName} {Environment.ProcessId}/{Interlocked.Increment(ref s_instances)}";
        Adopted = new AdoptedQueues(time);
        _backoff = new Backoff(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(_options.ReconnectMaxSeconds));
        _refusals = new LogDigest(
            LogDigest.RefusalInterval, time,
            reason => BrokerLog.PoolExhausted(_logger, reason, IsPublishers(reason) ? NoPublisherConsequence : "new subscribers get 503"),
            (reason, count, over) => BrokerLog.PoolExhaustedRepeated(_logger, count, over.TotalSeconds, reason));
    }

    /// <summary><c>broker.subscribers_per_channel</c>: 1, a channel per queue subscriber; more, shared channels.</summary>
    public int SubscribersPerChannel => _options.SubscribersPerChannel;

    /// <summary>Queues found with other arguments and consumed as they are (<c>queue.adopt_existing</c>): looked up passively.</summary>
    public AdoptedQueues Adopted { get; }

    /// <summary>The clock of reconnects and waits.</summary>
    public TimeProvider Time => _time;

    /// <summary>Every connection of this pool is named "{prefix} #{n}" (visible in the broker's management tools).</summary>
    public string ConnectionNamePrefix { get; }

    /// <summary>A snapshot of the subscribers' connections, configured ones first (readiness and the broker series count these).</summary>
    public IReadOnlyList<ConnectionSlot> Slots => Volatile.Read(ref _slots);

    /// <summary>A snapshot of the publishers' connections opened so far (<see cref="LeasePublisherAsync"/>), up or not.</summary>
    public IReadOnlyList<ConnectionSlot> PublisherSlots => [.. Volatile.Read(ref _publishers).OfType<ConnectionSlot>()];

    /// <summary>A snapshot of the stream consumers' connections opened so far (<see cref="LeaseForStreamAsync"/>), up or not.</summary>
    public IReadOnlyList<ConnectionSlot> StreamSlots => [.. Volatile.Read(ref _forStreams).OfType<ConnectionSlot>()];

    /// <summary>Whether a subscriber of this gateway holds <paramref name="queue"/> on any connection (shared channels only).</summary>
    public bool HoldsQueue(string queue)
    {
        foreach (var slot in Slots)
        {
            if (slot.HoldsQueue(queue))
            {
                return true;
            }
        }

        return false;
    }

    public int ConnectionsUp => Slots.Count(s => s.IsUp);

    /// <summary>Streams (and publishers) that have ended and wait for the broker to answer their channel's close, on every connection.</summary>
    public int ChannelClosesWaiting => Slots.Concat(PublisherSlots).Concat(StreamSlots).Sum(s => s.ChannelClosesWaiting);

    /// <summary>
    /// What a subscriber refused for want of a connection is told: no node address, no broker words (those are logged).
    /// </summary>
    public string UnavailableReason => ConnectionsUp == 0 ? "no broker connection is up" : "no broker connection can take the subscription";

    /// <summary>Opens the configured connections and waits for each one's first attempt.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _urls = _options.Node.Select(BrokerUrl.Parse).ToArray();
        Volatile.Write(ref _publishers, new ConnectionSlot?[_urls.Length]);
        Volatile.Write(ref _forStreams, new ConnectionSlot?[_urls.Length]);
        var slots = _urls.Select((url, i) => NewSlot(i + 1, url, isExtra: false)).ToArray();
        Volatile.Write(ref _slots, slots);
        foreach (var slot in slots)
        {
            StartSupervising(slot);
        }

        await Task.WhenAll(slots.Select(s => s.FirstAttempt)).WaitAsync(cancellationToken);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync();
        try
        {
            await Task.WhenAll(_supervisors).WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Shutdown bound reached: close what we can below.
        }

        // Bounded by the shutdown's own bound too: a node that answers nothing (frozen, or a cut network that the
        // heartbeats have not noticed yet) must not hold the process past server.shutdown_timeout. Each close returns when
        // the bound runs out (the close goes on in the background while the process ends), having logged what it gave up
        // on (event 211): not cut off here, or the process ended before that line.
        // A node that answered none of one connection's channel closes is not waited for on its other connections either
        // (a queue subscribers' connection with no channel left, beside the topics' that had them).
        var all = Slots.Concat(PublisherSlots).Concat(StreamSlots).ToArray();
        var silent = all.Where(s => s.UnansweredChannelCloses > 0).Select(s => s.Node).ToHashSet(StringComparer.Ordinal);
        await Task.WhenAll(all.Select(s => s.CloseAsync(CloseTimeout, silent.Contains(s.Node), cancellationToken)));
        _refusals.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None);
        _stopping.Dispose();
        _grow.Dispose();
        _openPublisher.Dispose();
        _openForStreams.Dispose();
    }

    /// <summary>
    /// A channel for one subscriber, on a subscribers' connection (publishers lease with <see cref="LeasePublisherAsync"/>).
    /// Throws <see cref="BrokerUnavailableException"/> when no connection is up or none can be opened; never waits
    /// for a node that is down.
    /// </summary>
    public Task<ChannelLease> LeaseAsync(CancellationToken cancellationToken) => LeaseAsync(avoidNodes: null, cancellationToken);

    /// <summary>
    /// As <see cref="LeaseAsync(CancellationToken)"/>, on a connection to none of <paramref name="avoidNodes"/>
    /// (<see cref="ConnectionSlot.Node"/>: nodes that refused what the subscriber needs, such as a stream without a replica
    /// there). With nodes to avoid, no connection is opened to make room: when no connection to another node can take a
    /// channel, this throws <see cref="BrokerUnavailableException"/> without logging it (the caller has the refusal to tell).
    /// </summary>
    public async Task<ChannelLease> LeaseAsync(IReadOnlyCollection<string>? avoidNodes, CancellationToken cancellationToken)
    {
        var avoiding = avoidNodes is { Count: > 0 };
        string reason = avoiding ? "no connection to another node can take a channel" : "no broker connection is up";
        for (var attempt = 0; attempt < MaxLeaseAttempts; attempt++)
        {
            var slot = ReserveLeastLoaded(avoidNodes) ?? (avoiding ? null : await GrowAsync(cancellationToken));
            if (slot is null)
            {
                break;
            }

            IChannel channel;
            try
            {
                // Not cancelled by the subscriber: a channel.open abandoned half way may still be opened by the
                // broker, and its reservation would be lost (the client's connection timeouts bound the wait).
                channel = await slot.CreateChannelAsync(publisherConfirms: false, CancellationToken.None);
            }
            catch (ChannelAllocationException)
            {
                slot.Release();
                slot.MarkFull();
                reason = $"connection to {slot.Node} has no free channel number";
                continue;
            }
            catch (Exception ex)
            {
                slot.Release();
                reason = $"cannot open a channel on {slot.Node}: {ex.Message}";
                if (ex is OperationInterruptedException { ShutdownReason.ReplyCode: NotAllowed })
                {
                    // The broker closed the whole connection for this channel (530: the broker user's max-channels
                    // reached): another connection of the same user would be closed the same way, with every stream
                    // on it, for one subscriber. One such refusal per subscriber, not one per connection.
                    break;
                }

                continue;
            }

            var lease = new ChannelLease(slot, channel, _metrics, _logger);
            if (cancellationToken.IsCancellationRequested)
            {
                // The subscriber left while the channel opened: close it and give the reservation back.
                await lease.DisposeAsync();
                cancellationToken.ThrowIfCancellationRequested();
            }

            return lease;
        }

        // Every subscriber asks while no connection is up: one line per reason and interval, not one each.
        if (!avoiding)
        {
            _refusals.Add(reason);
        }

        throw new BrokerUnavailableException(reason);
    }

    /// <summary>
    /// A channel for one of the gateway's publishers, on a publishing connection (never a subscriber's), opened to a
    /// node that is up if none is up yet. Throws <see cref="BrokerBlockedException"/> while the broker refuses
    /// publishes on it (a resource alarm), <see cref="BrokerUnavailableException"/> when no node is up.
    /// </summary>
    public async Task<ChannelLease> LeasePublisherAsync(bool publisherConfirms, CancellationToken cancellationToken)
    {
        var slot = ReservePublisher() ?? await OpenPublisherAsync(cancellationToken);
        if (slot is null)
        {
            _refusals.Add(NoPublisherConnection);
            throw new BrokerUnavailableException(NoPublisherConnection);
        }

        if (slot.BlockedReason is { } blocked)
        {
            // A channel.open would go unanswered once this connection has published during the alarm.
            slot.Release();
            throw new BrokerBlockedException(blocked);
        }

        IChannel channel;
        try
        {
            // Not cancelled, as in LeaseAsync: an open abandoned half way would lose the reservation.
            channel = await slot.CreateChannelAsync(publisherConfirms, CancellationToken.None);
        }
        catch (Exception ex)
        {
            slot.Release();
            var reason = $"{PublisherChannelRefused}{slot.Node}: {ex.Message}";
            _refusals.Add(reason);
            throw new BrokerUnavailableException(reason, ex);
        }

        return new ChannelLease(slot, channel, _metrics, _logger, subscriber: false);
    }

    /// <summary>Whether event 206's <paramref name="reason"/> is a publisher's (<see cref="LeasePublisherAsync"/>): publishes fail, not subscribers.</summary>
    private static bool IsPublishers(string reason) =>
        reason == NoPublisherConnection || reason.StartsWith(PublisherChannelRefused, StringComparison.Ordinal);

    /// <summary>
    /// A channel for a stream consumer (a topic's feed, a catch-up reader), on a connection that carries stream consumers
    /// only, one per configured node not in <paramref name="avoidNodes"/>, opened when the first one needs it. RabbitMQ
    /// 3.10 answers a stream consume that it cannot serve at that moment (its stream coordinator's node just went down:
    /// <c>{case_clause,{error,nodedown}}</c> in <c>rabbit_stream_queue:init</c>) by crashing the channel, which closes the
    /// whole connection with <c>541 INTERNAL_ERROR</c>: on a queue subscribers' connection it ended every stream there.
    /// Falls back to <see cref="LeaseAsync(IReadOnlyCollection{string}?, CancellationToken)"/> when no such connection can
    /// take a channel (the node refuses another connection, or its channels are all taken).
    /// </summary>
    public async Task<ChannelLease> LeaseForStreamAsync(IReadOnlyCollection<string>? avoidNodes, CancellationToken cancellationToken)
    {
        if ((ReserveForStream(avoidNodes) ?? await OpenForStreamsAsync(avoidNodes, cancellationToken)) is { } slot)
        {
            IChannel? channel = null;
            try
            {
                // Not cancelled, as in LeaseAsync: an open abandoned half way would lose the reservation.
                channel = await slot.CreateChannelAsync(publisherConfirms: false, CancellationToken.None);
            }
            catch (ChannelAllocationException)
            {
                slot.Release();
                slot.MarkFull();
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                slot.Release();
            }

            if (channel is not null)
            {
                var lease = new ChannelLease(slot, channel, _metrics, _logger);
                if (cancellationToken.IsCancellationRequested)
                {
                    await lease.DisposeAsync();
                    cancellationToken.ThrowIfCancellationRequested();
                }

                return lease;
            }
        }

        return await LeaseAsync(avoidNodes, cancellationToken);
    }

    private ConnectionSlot? ReserveForStream(IReadOnlyCollection<string>? avoidNodes) =>
        ReserveLeastLoaded(Volatile.Read(ref _forStreams), avoidNodes);

    /// <summary>
    /// No stream consumers' connection can take a channel: opens one to a configured node, not avoided, whose subscribers'
    /// connection is up and which has none yet.
    /// </summary>
    private Task<ConnectionSlot?> OpenForStreamsAsync(IReadOnlyCollection<string>? avoidNodes, CancellationToken cancellationToken) =>
        OpenDedicatedAsync(Volatile.Read(ref _forStreams), _openForStreams, () => ReserveForStream(avoidNodes), "streams", isPublisher: false, avoidNodes, cancellationToken);

    private ConnectionSlot? ReservePublisher()
    {
        foreach (var slot in Volatile.Read(ref _publishers))
        {
            if (slot is not null && slot.TryReserve())
            {
                return slot;
            }
        }

        return null;
    }

    /// <summary>No publishing connection is up: opens one to a configured node whose subscribers' connection is up.</summary>
    private Task<ConnectionSlot?> OpenPublisherAsync(CancellationToken cancellationToken) =>
        OpenDedicatedAsync(Volatile.Read(ref _publishers), _openPublisher, ReservePublisher, "publisher", isPublisher: true, avoidNodes: null, cancellationToken);

    /// <summary>
    /// No connection of a dedicated kind (<paramref name="dedicated"/>: the publishers', or the stream consumers') can take a
    /// channel: opens one, one at a time (<paramref name="gate"/>), to a configured node not in <paramref name="avoidNodes"/>
    /// whose subscribers' connection is up and which has none of that kind yet (one that exists but is down reconnects by
    /// itself); <paramref name="reserve"/> first, for one another caller opened meanwhile.
    /// </summary>
    private async Task<ConnectionSlot?> OpenDedicatedAsync(
        ConnectionSlot?[] dedicated, SemaphoreSlim gate, Func<ConnectionSlot?> reserve, string kind, bool isPublisher,
        IReadOnlyCollection<string>? avoidNodes, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _stopped) != 0)
        {
            return null;
        }

        await gate.WaitAsync(cancellationToken);
        try
        {
            if (reserve() is { } reserved)
            {
                return reserved;
            }

            var slots = Slots;
            for (var i = 0; i < dedicated.Length && i < slots.Count; i++)
            {
                if (dedicated[i] is not null || !slots[i].IsUp || avoidNodes?.Contains(slots[i].Node) == true || Volatile.Read(ref _stopped) != 0)
                {
                    continue;
                }

                var slot = new ConnectionSlot(
                    i + 1, $"{ConnectionNamePrefix} {kind} #{i + 1}", _urls[i], isExtra: false, TimeSpan.FromSeconds(_options.HeartbeatSeconds),
                    _backoff, _time, _metrics, _logger, isPublisher: isPublisher, isForStreams: !isPublisher);
                // Known to the pool before its first attempt ends, so that shutdown closes it (as in GrowAsync).
                Volatile.Write(ref dedicated[i], slot);
                StartSupervising(slot);
                await slot.FirstAttempt.WaitAsync(cancellationToken);
                if (slot.TryReserve())
                {
                    return slot;
                }
            }

            return null;
        }
        finally
        {
            gate.Release();
        }
    }

    private ConnectionSlot? ReserveLeastLoaded(IReadOnlyCollection<string>? avoidNodes = null) =>
        ReserveLeastLoaded(Volatile.Read(ref _slots), avoidNodes);

    /// <summary>
    /// Reserves a channel on the connection of <paramref name="slots"/> (empty entries: not opened yet) that is up, has
    /// room, is on no avoided node and carries the fewest leases; null when none can. Indexed, not enumerated: this runs
    /// for every subscription, and an enumerator of the slot list would be allocated for each.
    /// </summary>
    private static ConnectionSlot? ReserveLeastLoaded(ConnectionSlot?[] slots, IReadOnlyCollection<string>? avoidNodes)
    {
        while (true)
        {
            ConnectionSlot? best = null;
            for (var i = 0; i < slots.Length; i++)
            {
                if (slots[i] is { } slot && slot.IsUp && slot.Leases < slot.Capacity && (best is null || slot.Leases < best.Leases)
                    && (avoidNodes is null || !avoidNodes.Contains(slot.Node)))
                {
                    best = slot;
                }
            }

            if (best is null)
            {
                return null;
            }

            if (best.TryReserve())
            {
                return best;
            }
        }
    }

    /// <summary>Every connection that is up is full: open one more to a node that is up.</summary>
    private async Task<ConnectionSlot?> GrowAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _stopped) != 0 || !Slots.Any(s => s.IsUp))
        {
            return null;
        }

        await _grow.WaitAsync(cancellationToken);
        try
        {
            // Another subscriber may have grown the pool while this one waited.
            if (ReserveLeastLoaded() is { } reserved)
            {
                return reserved;
            }

            var upUrls = Slots.Where(s => s.IsUp && !s.IsExtra).Select(s => s.Url).Distinct().ToArray();
            if (upUrls.Length == 0)
            {
                upUrls = Slots.Where(s => s.IsUp).Select(s => s.Url).Distinct().ToArray();
            }

            if (upUrls.Length == 0)
            {
                return null;
            }

            var url = upUrls[(int)((uint)_nextGrowUrl++ % (uint)upUrls.Length)];
            var slot = NewSlot(Slots.Count + 1, url, isExtra: true);
            StartSupervising(slot);
            // In the pool before its first attempt ends: a subscriber that leaves meanwhile must not leave a
            // supervised connection that the pool does not know (and would never close).
            Volatile.Write(ref _slots, [.. Slots, slot]);
            await slot.FirstAttempt.WaitAsync(cancellationToken);
            BrokerLog.PoolGrown(_logger, slot.Id, slot.Node, Slots.Count);
            return slot.TryReserve() ? slot : ReserveLeastLoaded();
        }
        finally
        {
            _grow.Release();
        }
    }

    private ConnectionSlot NewSlot(int id, BrokerUrl url, bool isExtra) =>
        new(id, $"{ConnectionNamePrefix} #{id}", url, isExtra, TimeSpan.FromSeconds(_options.HeartbeatSeconds), _backoff, _time, _metrics, _logger);

    private void StartSupervising(ConnectionSlot slot)
    {
        lock (_supervisors)
        {
            _supervisors.Add(Task.Run(() => slot.SuperviseAsync(_stopping.Token)));
        }
    }
}
