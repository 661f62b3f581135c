using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Eventsourced.Metrics;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;
using RabbitMQ.Client;

namespace Eventsourced.Broker;

/// <summary>
/// One supervised AMQP connection to one node. It reconnects with backoff when the connection drops,
/// and hands out up to the negotiated <c>channel_max</c> channel reservations while it is up.
/// The client's own recovery is off: a per-subscriber topology must not be replayed by the library.
/// </summary>
internal sealed class ConnectionSlot
{
    private static readonly CreateChannelOptions ChannelOptions = new(
        publisherConfirmationsEnabled: false,
        publisherConfirmationTrackingEnabled: false,
        outstandingPublisherConfirmationsRateLimiter: null,
        consumerDispatchConcurrency: null);

    /// <summary>A channel whose publishes wait for the broker's confirm (and fail on a nack or, with mandatory, a return).</summary>
    private static readonly CreateChannelOptions ConfirmingChannelOptions = new(
        publisherConfirmationsEnabled: true,
        publisherConfirmationTrackingEnabled: true,
        outstandingPublisherConfirmationsRateLimiter: null,
        consumerDispatchConcurrency: null);

    private static readonly TimeSpan ChannelCloseTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How long a channel.close may go unanswered, with no other close answered meanwhile, before event 210 says so.</summary>
    private static readonly TimeSpan SilenceNoticedAfter = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a connection must have been up for its loss to start the backoff over. RabbitMQ closes a connection right
    /// after opening it when its vhost does not exist, the user may not use the vhost, or a connection limit is reached
    /// (530 NOT_ALLOWED): such a loss counts as a failed attempt, or the gateway would reconnect, and log it, several
    /// times a second for as long as that lasts.
    /// </summary>
    internal static readonly TimeSpan StableAfter = TimeSpan.FromSeconds(10);

    private readonly ConnectionFactory _factory;
    private readonly Backoff _backoff;
    private readonly ReconnectWait _wait;
    private readonly TimeProvider _time;
    private readonly GatewayMetrics _metrics;
    private readonly ILogger _logger;
    private IConnection? _connection;
    private string? _blockedReason;
    private CancellationTokenSource _blocking = new();
    private TaskCompletionSource<ShutdownEventArgs>? _shutdown;
    private int _capacity;
    private int _leases;
    private bool _everConnected;
    private string? _certificateRefusal;
    private int _generation;
    private int _silenceToldGeneration;
    private int _unansweredCloses;
    private int _closesWaiting;
    private long _lastCloseAnswered = long.MinValue;
    private readonly TaskCompletionSource _firstAttempt = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<SharedChannel> _shared = [];
    private readonly SemaphoreSlim _opening = new(1, 1);
    private readonly HashSet<string> _heldQueues = new(StringComparer.Ordinal);

    public ConnectionSlot(
        int id, string connectionName, BrokerUrl url, bool isExtra, TimeSpan heartbeat, Backoff backoff, TimeProvider time, GatewayMetrics metrics, ILogger logger,
        bool isPublisher = false, bool isForStreams = false)
    {
        Id = id;
        Url = url;
        IsExtra = isExtra;
        IsPublisher = isPublisher;
        IsForStreams = isForStreams;
        _backoff = backoff;
        _wait = new ReconnectWait(token => NodeProbe.AnswersAsync(url, token), time);
        _time = time;
        _metrics = metrics;
        _logger = logger;
        ConnectionName = connectionName;
        _factory = new ConnectionFactory
        {
            Uri = url.Uri,
            AutomaticRecoveryEnabled = false,
            TopologyRecoveryEnabled = false,
            // broker.heartbeat: the client takes the connection for dead after about three silent intervals.
            RequestedHeartbeat = heartbeat,
            RequestedConnectionTimeout = TimeSpan.FromSeconds(5),
            ConsumerDispatchConcurrency = 1,
            // Anything the broker can deliver is received, for queue.max_message_bytes to reject or pass over: at the client
            // library's default (64 MiB, under RabbitMQ 3.x's default max_message_size of 128 MiB) a larger delivery ended
            // the whole connection, every stream on it, and stayed at the head of its queue to do it again.
            MaxInboundMessageBodySize = MaxBrokerMessageBytes,
        };
        if (url.IsTls)
        {
            // The client library's own check, which also says why it refused: its exception only says that it did.
            var ssl = _factory.Ssl;
            ssl.CertificateValidationCallback = (_, _, chain, errors) =>
            {
                var refused = errors & ~ssl.AcceptablePolicyErrors;
                Volatile.Write(ref _certificateRefusal, refused == SslPolicyErrors.None ? null : DescribeRefusal(refused, chain));
                return refused == SslPolicyErrors.None;
            };
        }
    }

    /// <summary>The largest message RabbitMQ can be configured to accept (<c>max_message_size</c>: 512 MiB).</summary>
    internal const uint MaxBrokerMessageBytes = 512 * 1024 * 1024;

    public int Id { get; }

    public BrokerUrl Url { get; }

    /// <summary>Opened because the configured connections were full; one more connection to a configured node.</summary>
    public bool IsExtra { get; }

    /// <summary>
    /// A connection for the gateway's own publishers (WebSocket clients' publishes, presence events), never for
    /// subscribers: during a resource alarm the broker stops reading a connection that publishes, and everything else
    /// on it (channel opens, acknowledgements) would wait with it. Not counted in <c>eventsourced_broker_connections</c>.
    /// </summary>
    public bool IsPublisher { get; }

    /// <summary>
    /// A connection for topic feeds and catch-up readers (stream consumers), never for queue subscribers: RabbitMQ 3.10
    /// answers a stream consume it cannot serve at that moment with a crash that closes the whole connection (541).
    /// Not counted in <c>eventsourced_broker_connections</c>.
    /// </summary>
    public bool IsForStreams { get; }

    /// <summary>Counted in <c>eventsourced_broker_connections</c>: a queue subscribers' connection.</summary>
    private bool Counted => !IsPublisher && !IsForStreams;

    public string Node => Url.Endpoint;

    /// <summary>
    /// The broker told this connection that it refuses publishes for now (<c>connection.blocked</c>: a memory or disk
    /// alarm); a publish would be held, and the connection with it, until <c>connection.unblocked</c>.
    /// </summary>
    public bool IsBlocked => Volatile.Read(ref _blockedReason) is not null;

    /// <summary>The broker's reason while <see cref="IsBlocked"/> (such as <c>low on memory</c>), else null.</summary>
    public string? BlockedReason => Volatile.Read(ref _blockedReason);

    /// <summary>
    /// Cancelled when the broker blocks this connection (already, while it is blocked). RabbitMQ sends
    /// <c>connection.blocked</c> only once the connection publishes during an alarm, so a publish already waiting for
    /// its confirm learns of the block through this rather than waiting until the alarm clears.
    /// </summary>
    public CancellationToken BlockedToken => Volatile.Read(ref _blocking).Token;

    public string ConnectionName { get; }

    public bool IsUp => Volatile.Read(ref _connection) is { IsOpen: true };

    /// <summary>Counts the connections this slot has opened: what was exclusive to one of them is gone once it changes.</summary>
    public int Generation => Volatile.Read(ref _generation);

    public int Leases => Volatile.Read(ref _leases);

    public int Capacity => Volatile.Read(ref _capacity);

    /// <summary>Completes when the first connection attempt of <see cref="SuperviseAsync"/> has succeeded or failed.</summary>
    public Task FirstAttempt => _firstAttempt.Task;

    /// <summary>Takes one of this connection's channel slots, if it is up and not full.</summary>
    public bool TryReserve()
    {
        while (true)
        {
            var leases = Volatile.Read(ref _leases);
            if (leases >= Volatile.Read(ref _capacity) || !IsUp)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _leases, leases + 1, leases) == leases)
            {
                return true;
            }
        }
    }

    public void Release() => Interlocked.Decrement(ref _leases);

    /// <summary>The server refused a channel number: treat this connection as full until it reconnects.</summary>
    public void MarkFull() => Volatile.Write(ref _capacity, Math.Max(0, Leases - 1));

    public Task<IChannel> CreateChannelAsync(CancellationToken cancellationToken) => CreateChannelAsync(publisherConfirms: false, cancellationToken);

    public async Task<IChannel> CreateChannelAsync(bool publisherConfirms, CancellationToken cancellationToken)
    {
        var connection = Volatile.Read(ref _connection)
            ?? throw new BrokerUnavailableException($"connection to {Node} is down");
        return await connection.CreateChannelAsync(publisherConfirms ? ConfirmingChannelOptions : ChannelOptions, cancellationToken);
    }

    /// <summary>
    /// A seat on a shared channel of this connection with the per-consumer <paramref name="prefetch"/>: on one
    /// with fewer than <paramref name="perChannel"/> members, else on a new one. Channels are opened one at a time,
    /// so a burst of subscribers fills each before the next opens. A new channel takes a free slot of the
    /// connection, else the one <paramref name="spareReservation"/> hands over (the subscriber's short-lived
    /// channel, closed): in a burst, those short-lived channels can hold every slot, and none would come free
    /// while each waited for another.
    /// </summary>
    /// <exception cref="BrokerUnavailableException">The connection is down, or has no free channel.</exception>
    public async Task<SharedChannel> JoinSharedAsync(ushort prefetch, int perChannel, Func<Task<bool>> spareReservation, CancellationToken cancellationToken)
    {
        if (TryJoinExisting(prefetch, perChannel) is { } joined)
        {
            return joined;
        }

        await _opening.WaitAsync(cancellationToken);
        try
        {
            if (TryJoinExisting(prefetch, perChannel) is { } other)
            {
                return other;
            }

            if (!TryReserve() && !await spareReservation())
            {
                throw new BrokerUnavailableException($"connection to {Node} has no free channel");
            }

            IChannel? channel = null;
            try
            {
                // Not cancelled: an open abandoned half way would lose the reservation (as in BrokerPool.LeaseAsync).
                channel = await CreateChannelAsync(CancellationToken.None);
                await channel.BasicQosAsync(0, prefetch, global: false, CancellationToken.None);
            }
            catch (Exception ex)
            {
                if (channel is not null)
                {
                    // Opened, but its basic.qos failed: not left open on the connection.
                    await DisposeQuietlyAsync(channel);
                }

                Release();
                if (ex is BrokerUnavailableException)
                {
                    throw;
                }

                throw new BrokerUnavailableException($"cannot open a channel on {Node}: {ex.Message}");
            }

            var shared = new SharedChannel(channel, prefetch) { Members = 1 };
            lock (_shared)
            {
                _shared.Add(shared);
            }

            _metrics.ChannelLeased(Node);
            return shared;
        }
        finally
        {
            _opening.Release();
        }
    }

    /// <summary>A member of <paramref name="shared"/> is gone; the last one closes it and gives its slot back.</summary>
    public async Task LeaveSharedAsync(SharedChannel shared)
    {
        lock (_shared)
        {
            if (--shared.Members > 0)
            {
                return;
            }

            _shared.Remove(shared);
        }

        try
        {
            await CloseChannelQuietlyAsync(shared.Channel, "last subscriber left");
        }
        finally
        {
            Release();
            _metrics.ChannelReleased(Node);
        }
    }

    /// <summary>
    /// Closes <paramref name="channel"/> and then disposes it; failures are logged, not thrown. Waits up to 5 s for the
    /// broker's answer; a close answered later finishes, and the channel is disposed, in the background.
    /// </summary>
    public async Task CloseChannelQuietlyAsync(IChannel channel, string reason)
    {
        Interlocked.Increment(ref _closesWaiting);
        try
        {
            await CloseChannelWaitingAsync(channel, reason);
        }
        finally
        {
            Interlocked.Decrement(ref _closesWaiting);
        }
    }

    /// <summary>Callers of <see cref="CloseChannelQuietlyAsync"/> still waiting for the broker's answer (at most 5 s each).</summary>
    public int ChannelClosesWaiting => Volatile.Read(ref _closesWaiting);

    private async Task CloseChannelWaitingAsync(IChannel channel, string reason)
    {
        var started = Environment.TickCount64;
        var closing = CloseThenDisposeAsync(channel, reason);
        if (BlockedReason is { } blocked && !closing.IsCompleted)
        {
            // A connection the broker blocks (resource alarm) is not read by the broker: no answer comes before the
            // alarm clears, and waiting held a shutdown for the whole 5 s.
            BrokerLog.ChannelCloseFailed(_logger, Node, $"the broker blocks the connection ({blocked}) and reads nothing from it; the close finishes in the background");
            GiveUp(closing);
            return;
        }

        if (await FinishesWithinAsync(closing, SilenceNoticedAfter))
        {
            return;
        }

        // No close answered on this connection since this one was sent: the node answers nothing (frozen, or the network
        // cut and heartbeats have not noticed yet), not merely slowly. Said once per connection, at the default level:
        // a shutdown waits here with nothing else to show for it.
        if (Volatile.Read(ref _lastCloseAnswered) < started && Interlocked.Exchange(ref _silenceToldGeneration, Generation) != Generation)
        {
            BrokerLog.NotAnsweringCloses(_logger, Node, ConnectionName, SilenceNoticedAfter.TotalSeconds, ChannelCloseTimeout.TotalSeconds);
        }

        if (!await FinishesWithinAsync(closing, ChannelCloseTimeout - SilenceNoticedAfter))
        {
            BrokerLog.ChannelCloseFailed(_logger, Node, $"no answer to channel.close within {ChannelCloseTimeout.TotalSeconds:0} s; it finishes in the background");
            GiveUp(closing);
        }
    }

    /// <summary>Channel closes given up on (<see cref="CloseChannelQuietlyAsync"/>) that the broker has not answered yet.</summary>
    public int UnansweredChannelCloses => Volatile.Read(ref _unansweredCloses);

    private void GiveUp(Task closing)
    {
        Interlocked.Increment(ref _unansweredCloses);
        _ = closing.ContinueWith(static (_, slot) => Interlocked.Decrement(ref ((ConnectionSlot)slot!)._unansweredCloses), this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private static async Task<bool> FinishesWithinAsync(Task task, TimeSpan timeout)
    {
        try
        {
            await task.WaitAsync(timeout);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private async Task CloseThenDisposeAsync(IChannel channel, string reason)
    {
        if (channel.IsOpen)
        {
            try
            {
                // No cancellation token, on purpose. RabbitMQ.Client 7.2.2's close waits, with that token, for the
                // channel's consumer dispatcher to finish, which it does only after the connection's reading loop has
                // told the channel's consumers of the close. A token that runs out first (the broker slow to answer,
                // as when thousands of streams leave at once) lets the close return between the broker's answer and
                // that step, and disposing the channel then disposes the dispatcher under the reading loop: the loop
                // fails on it and the library closes the whole connection (541, "The CancellationTokenSource has been
                // disposed"), ending every stream on it. Fixed upstream after 7.2.2 (rabbitmq-dotnet-client#1888).
                // The library's own continuation timeout (20 s) still bounds this wait.
                await channel.CloseAsync(Constants.ReplySuccess, reason, abort: false, CancellationToken.None);
                Volatile.Write(ref _lastCloseAnswered, Environment.TickCount64);
            }
            catch (Exception ex)
            {
                // No answer within the library's timeout, or the connection went meanwhile: the broker's answer may
                // still come and run the steps above, so the channel is not disposed under them (the collector takes
                // it once the library lets go of it).
                BrokerLog.ChannelCloseFailed(_logger, Node, ex.Message);
                return;
            }
        }
        else if (channel.CloseReason is not { Initiator: ShutdownInitiator.Peer })
        {
            // Closed with its connection, or aborted: whether the reading loop has told its consumers yet is not known
            // here (see above), so it is left to the collector. One the broker closed is disposed: the library answers
            // the broker only after telling the consumers, and its disposal waits for that answer.
            return;
        }

        await DisposeQuietlyAsync(channel);
    }

    /// <summary>The shared channels of this connection with at least one member: a snapshot, for diagnostics and tests.</summary>
    internal IReadOnlyList<SharedChannel> SharedChannels
    {
        get
        {
            lock (_shared)
            {
                return [.. _shared];
            }
        }
    }

    /// <summary>Runs <paramref name="work"/> on a channel of its own (one of this connection's slots), closed after.</summary>
    /// <exception cref="BrokerUnavailableException">The connection is down or has no free channel.</exception>
    public async Task WithChannelAsync(Func<IChannel, Task> work, CancellationToken cancellationToken)
    {
        if (!TryReserve())
        {
            throw new BrokerUnavailableException($"connection to {Node} is down or has no free channel");
        }

        try
        {
            IChannel channel;
            try
            {
                channel = await CreateChannelAsync(cancellationToken);
            }
            catch (ChannelAllocationException)
            {
                // The client library still holds numbers of channels whose close the broker has not answered yet:
                // full for now, as when every reservation is taken.
                throw new BrokerUnavailableException($"connection to {Node} has no free channel number");
            }

            try
            {
                await work(channel);
                await channel.CloseAsync(cancellationToken);
            }
            finally
            {
                await channel.DisposeAsync();
            }
        }
        finally
        {
            Release();
        }
    }

    /// <summary>
    /// Marks <paramref name="queue"/> as held by a subscriber on this connection. The broker arbitrates between
    /// connections (a lock queue exclusive to its connection, <see cref="Consuming.QueueLock.HoldAsync"/>), but
    /// declares the same exclusive queue again for the connection that owns it; this tells such a second
    /// subscriber on the same connection that the queue is taken.
    /// </summary>
    public bool TryHoldQueue(string queue)
    {
        lock (_heldQueues)
        {
            return _heldQueues.Add(queue);
        }
    }

    /// <summary>Whether a subscriber on this connection holds <paramref name="queue"/> (<see cref="TryHoldQueue"/>).</summary>
    public bool HoldsQueue(string queue)
    {
        lock (_heldQueues)
        {
            return _heldQueues.Contains(queue);
        }
    }

    public void ReleaseQueue(string queue)
    {
        lock (_heldQueues)
        {
            _heldQueues.Remove(queue);
        }
    }

    private SharedChannel? TryJoinExisting(ushort prefetch, int perChannel)
    {
        lock (_shared)
        {
            foreach (var shared in _shared)
            {
                if (shared.Members < perChannel && shared.Prefetch == prefetch && shared.Channel.IsOpen)
                {
                    shared.Members++;
                    return shared;
                }
            }
        }

        return null;
    }

    /// <summary>Keeps the connection up until <paramref name="stopping"/> fires.</summary>
    public async Task SuperviseAsync(CancellationToken stopping)
    {
        try
        {
            await SuperviseLoopAsync(stopping);
        }
        finally
        {
            _firstAttempt.TrySetResult();
        }
    }

    private async Task SuperviseLoopAsync(CancellationToken stopping)
    {
        var attempt = 0;
        var connectedAt = 0L;
        while (!stopping.IsCancellationRequested)
        {
            var shutdown = Volatile.Read(ref _shutdown);
            if (shutdown is null)
            {
                try
                {
                    await ConnectAsync(stopping);
                    connectedAt = _time.GetTimestamp();
                    _firstAttempt.TrySetResult();
                    continue;
                }
                catch (OperationCanceledException) when (stopping.IsCancellationRequested)
                {
                    _firstAttempt.TrySetResult();
                    return;
                }
                catch (Exception ex)
                {
                    _firstAttempt.TrySetResult();
                    var delay = _backoff.Delay(attempt++);
                    BrokerLog.ConnectFailed(_logger, Node, ConnectionName, await DescribeConnectFailureAsync(ex, stopping), delay.TotalSeconds);
                    switch (await _wait.WaitAsync(delay, stopping))
                    {
                        case ReconnectWaitResult.Stopped:
                            return;
                        case ReconnectWaitResult.NodeAnswers:
                            attempt = 0;
                            break;
                    }

                    continue;
                }
            }

            ShutdownEventArgs reason;
            try
            {
                reason = await shutdown.Task.WaitAsync(stopping);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            await MarkDownAsync(reason);
            if (_time.GetElapsedTime(connectedAt) >= StableAfter)
            {
                attempt = 0;
            }

            switch (await _wait.WaitAsync(_backoff.Delay(attempt++), stopping))
            {
                case ReconnectWaitResult.Stopped:
                    return;
                case ReconnectWaitResult.NodeAnswers:
                    attempt = 0;
                    break;
            }
        }
    }

    /// <summary>
    /// Closes the connection for good (shutdown); channels on it end with it. Waits up to <paramref name="timeout"/> for the
    /// broker's answer, less if <paramref name="cancellationToken"/> (the shutdown's bound) fires first, and not at all when
    /// the broker reads nothing from the connection (blocked) or answered none of the channel closes given up on, on this
    /// connection or (<paramref name="nodeSilent"/>) on another to the same node; what is given up on is logged (event 211).
    /// </summary>
    public async Task CloseAsync(TimeSpan timeout, bool nodeSilent = false, CancellationToken cancellationToken = default)
    {
        // Read before the close: the connection's shutdown ends the block, and the closes still waiting for an answer.
        var blocked = BlockedReason;
        var unanswered = UnansweredChannelCloses;
        var open = Leases;
        if (TakeConnection() is not { } connection)
        {
            return;
        }

        // RabbitMQ.Client 7.2.2 waits well past the timeout when the node answers nothing (a frozen node, a cut network
        // not noticed yet): 30 s in the close, then 20 s more in the disposal's own close. Waited for only this long;
        // the rest finishes in the background.
        var closing = CloseThenDisposeAsync(connection, timeout);
        if (blocked is not null && !closing.IsCompleted)
        {
            // The broker reads nothing from a connection it blocks (resource alarm), so connection.close is not
            // answered before the alarm clears: a shutdown otherwise waited out its whole timeout.
            BrokerLog.ConnectionLost(_logger, Node, ConnectionName, $"closed while the broker blocks it ({blocked}), without waiting for an answer the broker does not read");
            return;
        }

        if ((unanswered > 0 || nodeSilent) && !closing.IsCompleted)
        {
            // The node answered none of these channel closes in 5 s: its answer to connection.close would not come either,
            // and waiting for it held a shutdown 5 s more, up to the whole server.shutdown_timeout.
            var why = unanswered > 0
                ? $"it answered none of the last {unanswered} channel.close(s) within {ChannelCloseTimeout.TotalSeconds:0} s"
                : $"it answered no channel.close on another connection within {ChannelCloseTimeout.TotalSeconds:0} s";
            BrokerLog.GaveUpClosing(_logger, Node, ConnectionName, why, unanswered + open);
            return;
        }

        try
        {
            await closing.WaitAsync(timeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            BrokerLog.GaveUpClosing(_logger, Node, ConnectionName, $"no answer to connection.close within {timeout.TotalSeconds:0} s", UnansweredChannelCloses + open);
        }
        catch (OperationCanceledException)
        {
            BrokerLog.GaveUpClosing(_logger, Node, ConnectionName, "server.shutdown_timeout ran out before the broker answered connection.close", UnansweredChannelCloses + open);
        }
    }

    private async Task CloseThenDisposeAsync(IConnection connection, TimeSpan timeout)
    {
        try
        {
            await connection.CloseAsync(timeout);
        }
        catch (Exception ex)
        {
            BrokerLog.ConnectionLost(_logger, Node, ConnectionName, Describe(ex));
        }
        finally
        {
            await DisposeQuietlyAsync(connection);
        }

        BrokerLog.ConnectionClosed(_logger, Node, ConnectionName);
    }

    private async Task ConnectAsync(CancellationToken cancellationToken)
    {
        var connection = await _factory.CreateConnectionAsync(ConnectionName, cancellationToken);
        var shutdown = new TaskCompletionSource<ShutdownEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.ConnectionShutdownAsync += (_, e) =>
        {
            shutdown.TrySetResult(e);
            return Task.CompletedTask;
        };
        // A new connection starts unblocked (the broker tells it of an alarm once it publishes).
        ClearBlock();

        connection.ConnectionBlockedAsync += (_, e) =>
        {
            if (ReferenceEquals(Volatile.Read(ref _connection), connection) || Volatile.Read(ref _connection) is null)
            {
                var reason = string.IsNullOrEmpty(e.Reason) ? "resource alarm" : e.Reason;
                if (Interlocked.Exchange(ref _blockedReason, reason) is null)
                {
                    _metrics.ConnectionBlocked(Node);
                    BrokerLog.ConnectionBlocked(_logger, Node, ConnectionName, reason);
                }

                Volatile.Read(ref _blocking).Cancel();
            }

            return Task.CompletedTask;
        };
        connection.ConnectionUnblockedAsync += (_, _) =>
        {
            if ((ReferenceEquals(Volatile.Read(ref _connection), connection) || Volatile.Read(ref _connection) is null) && ClearBlock())
            {
                BrokerLog.ConnectionUnblocked(_logger, Node, ConnectionName);
            }

            return Task.CompletedTask;
        };
        if (!connection.IsOpen || !await ConfirmOpenAsync(connection, cancellationToken))
        {
            var why = connection.CloseReason is { } closed ? $": {closed.ReplyCode} {closed.ReplyText}" : string.Empty;
            await DisposeQuietlyAsync(connection);
            throw new BrokerUnavailableException($"connection to {Node} closed right after opening{why}");
        }

        var channelMax = connection.ChannelMax == 0 ? ushort.MaxValue : connection.ChannelMax;
        Volatile.Write(ref _shutdown, shutdown);
        Interlocked.Increment(ref _generation);
        Volatile.Write(ref _connection, connection);
        Volatile.Write(ref _capacity, channelMax);
        if (Counted)
        {
            _metrics.ConnectionUp(Node);
        }

        if (_everConnected)
        {
            _metrics.Reconnected(Node);
        }

        _everConnected = true;
        BrokerLog.Connected(_logger, Node, ConnectionName, channelMax);
    }

    /// <summary>
    /// Whether a new connection stays open for one channel's round trip. RabbitMQ 3.10 refuses a connection over its user's
    /// <c>max-connections</c> only after <c>connection.open-ok</c>, closing it at once (<c>530 NOT_ALLOWED ... user connection
    /// limit</c>): taken as connected, every refused attempt was logged as connected (event 200) and lost (202) and counted in
    /// <c>eventsourced_broker_reconnects_total</c>, so a connection that never came up fired the flapping alert. A channel
    /// opened and closed is answered only by a connection the broker keeps.
    /// </summary>
    private static async Task<bool> ConfirmOpenAsync(IConnection connection, CancellationToken cancellationToken)
    {
        try
        {
            var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
            await channel.CloseAsync(cancellationToken);
            await channel.DisposeAsync();
            return true;
        }
        catch (Exception ex) when (ex is RabbitMQ.Client.Exceptions.AlreadyClosedException or RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            return false;
        }
    }

    private async Task MarkDownAsync(ShutdownEventArgs reason)
    {
        if (TakeConnection() is { } connection)
        {
            BrokerLog.ConnectionLost(_logger, Node, ConnectionName, $"{reason.ReplyCode} {reason.ReplyText}");
            await DisposeQuietlyAsync(connection);
        }
    }

    /// <summary>Marks the slot down (no new reservations) and hands over the connection, once.</summary>
    private IConnection? TakeConnection()
    {
        var connection = Interlocked.Exchange(ref _connection, null);
        Volatile.Write(ref _shutdown, null);
        Volatile.Write(ref _capacity, 0);
        ClearBlock();
        if (connection is not null && Counted)
        {
            _metrics.ConnectionDown(Node);
        }

        return connection;
    }

    /// <summary>
    /// Ends a block, if any: no <see cref="BlockedReason"/>, and a fresh <see cref="BlockedToken"/> (the cancelled one is
    /// left to the collector: it has no timer). True when there was a block to end.
    /// </summary>
    private bool ClearBlock()
    {
        if (Interlocked.Exchange(ref _blockedReason, null) is null)
        {
            return false;
        }

        _metrics.ConnectionUnblocked(Node);

        if (Volatile.Read(ref _blocking).IsCancellationRequested)
        {
            Volatile.Write(ref _blocking, new CancellationTokenSource());
        }

        return true;
    }

    private static async Task DisposeQuietlyAsync(IChannel channel)
    {
        try
        {
            await channel.DisposeAsync();
        }
        catch (Exception)
        {
            // The channel is gone either way.
        }
    }

    private static async Task DisposeQuietlyAsync(IConnection connection)
    {
        try
        {
            await connection.DisposeAsync();
        }
        catch (Exception)
        {
            // The connection is gone either way; disposal errors carry no news.
        }
    }

    /// <summary>
    /// Why a connect failed, with what the client library's message leaves out: why the broker's certificate was
    /// refused, a TLS handshake with a port that speaks no TLS, or a port that answers but is no AMQP broker (its
    /// "connection.start was never received, likely due to a network timeout" sent operators looking for a network
    /// problem when the URL named an HTTP server).
    /// </summary>
    private async Task<string> DescribeConnectFailureAsync(Exception ex, CancellationToken cancellationToken)
    {
        var reason = Describe(ex);
        if (Causes(ex).OfType<AuthenticationFailureException>().FirstOrDefault() is { } refusedLogin)
        {
            // The client library says "None of the specified endpoints were reachable" of a node that answered and refused the login.
            return $"{Url.Endpoint} refused the login of user '{Url.UserName}' ({WithoutPassword(refusedLogin.Message)}): " +
                "check the user and password of this broker.node entry (the user must exist on the broker)";
        }

        if (Causes(ex).Any(e => e is AuthenticationException))
        {
            return Volatile.Read(ref _certificateRefusal) is { } refusal
                ? $"{reason}: the broker's TLS certificate is refused: {refusal}"
                : $"{reason}: the TLS handshake failed: is {Node} RabbitMQ's TLS port (5671 by default)?";
        }

        // The client library's words are the same ("Connection failed, host H:P") for a refused port, a timeout and a name
        // that does not resolve: an operator needs to know which.
        if (Causes(ex).OfType<SocketException>().FirstOrDefault() is { } socket)
        {
            return $"{reason}: {DescribeSocketFailure(socket)}";
        }

        // Only a handshake that broke off is asked about: not a refused or unreachable port, nor a broker that refused the login.
        if (!Causes(ex).Any(e => e is IOException) || Causes(ex).Any(e => e is AuthenticationFailureException)
            || cancellationToken.IsCancellationRequested)
        {
            return reason;
        }

        try
        {
            return await NodeProbe.ForeignAnswerAsync(Url, cancellationToken) is { } answer ? $"{reason}: {answer}" : reason;
        }
        catch (OperationCanceledException)
        {
            return reason;
        }
    }

    private string DescribeSocketFailure(SocketException socket) => socket.SocketErrorCode switch
    {
        SocketError.ConnectionRefused => $"nothing accepts connections on {Node} (connection refused: the node is down, its listeners suspended, or the port is not its AMQP port)",
        SocketError.TimedOut => $"{Node} did not answer the connect (timed out: the host is down, or a firewall drops the packets)",
        SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData => $"the host name of {Node} does not resolve ({socket.Message})",
        _ => WithoutPassword(socket.Message),
    };

    private static IEnumerable<Exception> Causes(Exception ex)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            yield return e;
            if (e is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions.SelectMany(Causes))
                {
                    yield return inner;
                }
            }
        }
    }

    private static string DescribeRefusal(SslPolicyErrors errors, X509Chain? chain)
    {
        var parts = new List<string>();
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            parts.Add("the broker sent none");
        }

        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            parts.Add("it does not name the host of the URL");
        }

        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors))
        {
            var statuses = chain?.ChainStatus.Select(s => s.Status.ToString()).Distinct().ToArray() ?? [];
            parts.Add($"its chain is not trusted here ({(statuses.Length > 0 ? string.Join(", ", statuses) : "chain errors")}; add its CA to the system's trust store, or point SSL_CERT_FILE at it)");
        }

        return string.Join("; ", parts);
    }

    /// <summary>An exception's message without the password, wherever the client library put it as credentials (<see cref="BrokerUrl.Redact"/>).</summary>
    private string Describe(Exception ex)
    {
        var message = ex.InnerException is { } inner ? $"{ex.Message} ({inner.Message})" : ex.Message;
        return WithoutPassword(message);
    }

    private string WithoutPassword(string message) => Url.Redact(message);
}
