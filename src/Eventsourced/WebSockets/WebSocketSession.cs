using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net.WebSockets;
using Eventsourced.Acknowledging;
using Eventsourced.Authentication;
using Eventsourced.Authorization;
using Eventsourced.Consuming;
using Eventsourced.Http;
using Eventsourced.Metrics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace Eventsourced.WebSockets;

/// <summary>
/// Serves one subscription over one WebSocket. Two loops: the writer (the only sender, as the SSE writer is
/// the only writer of its response) sends each message as a text frame, acknowledges to the broker and sends
/// the answers to the client; the reader receives what the client sends (acknowledgements, publishes) and
/// hands it to the writer through an inbox, waking it with <see cref="ISubscription.QueueWakeup"/>.
/// Acknowledgement follows the connection's choice: with <c>acks=client</c> a message is acknowledged to the
/// broker only when the client acknowledges it, and given back to the queue after <c>ws.ack_timeout</c>
/// (<see cref="ClientAcknowledgements"/>); otherwise once the client's TCP has its bytes, as for SSE
/// (<see cref="TcpDeliveryAcks"/>). Whatever is unacknowledged when the socket closes goes back to the queue
/// with the channel.
/// </summary>
internal sealed class WebSocketSession : ISubscriptionSession
{
    /// <summary>What a client's acknowledgements and publishes take while idle: they are small.</summary>
    private const int ReceiveChunk = 256;

    /// <summary>Answers and acknowledgements waiting for the writer; a client that sends more without reading is ended.</summary>
    private const int MaxInbox = 1024;

    /// <summary>
    /// Bytes of answers waiting for the writer (besides the first, however large): answers repeat what the client sent (a
    /// publish's <c>ref</c>, its destination in a refusal), so counted by number alone, a client that read none made the
    /// gateway hold up to 1,024 times <c>ws.max_message_size</c> of its own text. A client over it is ended as over <see cref="MaxInbox"/>.
    /// </summary>
    internal const int MaxInboxBytes = 1024 * 1024;

    /// <summary>A close handshake (and the reader's end after it) may take this long before the connection is aborted.</summary>
    private static readonly TimeSpan CloseWait = TimeSpan.FromSeconds(2);

    private readonly HttpContext _context;
    private readonly ISubscription _subscription;
    private readonly WebSocketFormat _format;
    private readonly WebSocketSessionOptions _options;
    private readonly SubscriptionSettings _settings;
    private readonly GatewayMetrics _metrics;
    private readonly WebSocketPublisher _publisher;
    private readonly PublishRateLimits _publishRates;
    private readonly SubscriberPermissions _permissions;
    private readonly ILogger _logger;
    private readonly ConcurrentQueue<Inbound> _inbox = new();
    private readonly ClientAcknowledgements? _clientAcks;
    private readonly TcpDeliveryAcks? _tcpAcks;
    private readonly ITimer? _ackTimer;
    private readonly List<MessageTimestamp> _published = new(16);
    private readonly CancellationTokenSource _ending = new();
    private long _armedDeadline = long.MaxValue;
    private int _inboxCount;
    private long _inboxBytes;
    private (WebSocketCloseStatus Status, string Description)? _closeBy;
    private volatile bool _answersBeforeClose;
    private bool _clientClosed;
    private bool _protocolError;
    private CorkedStream? _cork;
    private CheckedReadStream? _reads;
    private long _publishes;
    private readonly Lock _publishing = new();
    private Task _publishUnderWay = Task.CompletedTask;
    private bool _publishingEnded;

    public WebSocketSession(
        HttpContext context,
        ISubscription subscription,
        bool clientAcks,
        WebSocketFormat format,
        WebSocketSessionOptions options,
        SubscriptionSettings settings,
        GatewayMetrics metrics,
        WebSocketPublisher publisher,
        PublishRateLimits publishRates,
        SubscriberPermissions permissions,
        ILogger logger)
    {
        _permissions = permissions;
        _format = format;
        _context = context;
        _subscription = subscription;
        _options = options;
        _settings = settings;
        _metrics = metrics;
        _publisher = publisher;
        _publishRates = publishRates;
        _logger = logger;
        if (clientAcks)
        {
            _clientAcks = new ClientAcknowledgements(options.AckTimeout, settings.Time);
            _ackTimer = settings.Time.CreateTimer(static s => ((WebSocketSession)s!).OnAckDeadline(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
        else
        {
            _tcpAcks = new TcpDeliveryAcks(context, subscription, settings.Time);
        }
    }

    public long MessagesWritten { get; private set; }

    public async Task<SubscriptionEndReason> RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await ServeAsync(cancellationToken);
        }
        finally
        {
            // After both loops: the reader may publish until it ends.
            _ackTimer?.Dispose();
            _tcpAcks?.Dispose();
            _ending.Dispose();
        }
    }

    private async Task<SubscriptionEndReason> ServeAsync(CancellationToken cancellationToken)
    {
        // ASP.NET Core aborts the connection (a TCP reset) when it disposes a WebSocket in the Aborted state; see DisposeSocket.
        var lifetime = _context.Features.Get<IHttpRequestLifetimeFeature>() is { } requestLifetime ? new GracefulEndLifetime(requestLifetime) : null;
        if (lifetime is not null)
        {
            _context.Features.Set<IHttpRequestLifetimeFeature>(lifetime);
        }

        WebSocket socket;
        try
        {
            socket = await _context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
            {
                KeepAliveInterval = _options.KeepAliveInterval,
                KeepAliveTimeout = _options.KeepAliveTimeout,
            });
        }
        catch (Exception ex) when (ex is IOException or Microsoft.AspNetCore.Connections.ConnectionAbortedException or WebSocketException)
        {
            return SubscriptionEndReason.ClientGone;
        }

        _cork = (_context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpUpgradeFeature>() as CorkingUpgradeFeature)?.Stream;
        // Over HTTP/2 (extended CONNECT) the reads are checked as well, the writes not corked.
        _reads = _cork ?? (_context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpExtendedConnectFeature>() as Eventsourced.Sockets.CountingConnectFeature)?.Stream;
        if (_reads is not null)
        {
            // A frame declaring more than a whole message may hold is closed at once (RFC 6455 10.4), not once that much has come.
            _reads.MaxFrameLength = _options.MaxMessageSize;
            _reads.OversizedFrame = () => End((WebSocketCloseStatus.MessageTooBig, $"message larger than {_options.MaxMessageSize} bytes"));
        }

        try
        {
            return await ServeAsync(socket, cancellationToken);
        }
        finally
        {
            DisposeSocket(socket, lifetime);
        }
    }

    /// <summary>
    /// Disposes the WebSocket once both loops have ended. After a protocol error (a frame RFC 6455 forbids, a text message
    /// that is not UTF-8) the WebSocket has sent its close frame (1002, 1007) itself and marked itself Aborted, and ASP.NET
    /// Core aborts the connection when it disposes such a WebSocket: a TCP reset, which may discard that close frame before
    /// the client reads it (it then sees 1006, without a reason). Nothing is pending any more (the reader has failed, the
    /// writer has ended), so the connection ends as the request does, gracefully, after what was written.
    /// </summary>
    private void DisposeSocket(WebSocket socket, GracefulEndLifetime? lifetime)
    {
        if (lifetime is not null && _protocolError)
        {
            lifetime.Graceful = true;
        }

        try
        {
            socket.Dispose();
        }
        finally
        {
            if (lifetime is not null)
            {
                lifetime.Graceful = false;
            }
        }
    }

    private async Task<SubscriptionEndReason> ServeAsync(WebSocket socket, CancellationToken cancellationToken)
    {
        using (var sending = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _ending.Token))
        {
            // Either loop's end, the client leaving or the gateway stopping ends the other side too.
            using var stop = sending.Token.UnsafeRegister(static s => ((ISubscription)s!).Stop(), _subscription);
            var receiving = ReceiveLoopAsync(socket);
            SubscriptionEndReason reason;
            try
            {
                reason = await SendLoopAsync(socket, sending.Token, cancellationToken);
                await AnswerLastPublishAsync(socket, reason);
            }
            finally
            {
                _ackTimer?.Dispose();
                if (_tcpAcks is not null)
                {
                    // Counted delivered when sent; what the client's TCP never acknowledged goes back to the queue.
                    if (await _tcpAcks.AcknowledgeLastAsync() is > 0 and var requeued)
                    {
                        _metrics.Requeued(RequeueReasons.TcpUnacknowledged, requeued);
                    }
                }

                // Never sent, never acknowledged: these go back to the queue; their buffers to the pool.
                while (_subscription.Items.TryRead(out var unsent))
                {
                    unsent.Release();
                }
            }

            try
            {
                await CloseAsync(socket, reason, cancellationToken);
                try
                {
                    await receiving.WaitAsync(CloseWait, _settings.Time, CancellationToken.None);
                }
                catch (TimeoutException)
                {
                    socket.Abort();
                    await receiving;
                }
            }
            finally
            {
                if (_clientAcks is not null)
                {
                    // After the close handshake, not before it: a client reading messages when the gateway ends the
                    // connection (shutdown, an expired token) acknowledges them until it reads the close frame, and the
                    // reader takes those acknowledgements up to the client's own close. Taken before the close was sent,
                    // the ones on their way were dropped and their messages delivered again after a restart.
                    await AcknowledgeLastAsync();
                    // What the client was sent and never acknowledged goes back to the queue with the subscription.
                    if (_clientAcks.Count > 0)
                    {
                        _metrics.Requeued(RequeueReasons.WsUnacknowledged, _clientAcks.Count);
                    }
                }
            }

            return reason;
        }
    }

    private async Task<SubscriptionEndReason> SendLoopAsync(WebSocket socket, CancellationToken sending, CancellationToken cancellationToken)
    {
        var subscription = _subscription;
        try
        {
            if ((subscription as IStartPosition)?.StartsAfterId is { } startsAfter)
            {
                // Before any event: a client cut off before its first event resumes from here (an SSE stream's `id:` line).
                await SendAsync(socket, ReplyFrames.StartsAfter(startsAfter));
            }

            while (await subscription.Items.WaitToReadAsync(CancellationToken.None))
            {
                if (sending.IsCancellationRequested)
                {
                    break;
                }

                if (subscription.EndReason is { } ended)
                {
                    return ended;
                }

                ulong lastTag = 0;
                var messages = 0;
                long bytes = 0;
                var now = _settings.Time.GetTimestamp();
                // One write for the whole batch and the answers after it, as an SSE stream's batch is one flush.
                _cork?.Cork();
                while (!sending.IsCancellationRequested && subscription.Items.TryRead(out var item))
                {
                    if (!item.IsMessage)
                    {
                        // Only wake-ups are queued here: look at the inbox and the deadlines below.
                        subscription.Taken(item);
                        continue;
                    }

                    try
                    {
                        await SendAsync(socket, item.Buffer.AsMemory(0, item.Length));
                    }
                    finally
                    {
                        item.Release();
                    }

                    _clientAcks?.Sent(item.Tag, now);
                    lastTag = item.Tag;
                    messages++;
                    bytes += item.Length;
                    if (item.Published.IsPresent)
                    {
                        _published.Add(item.Published);
                    }
                }

                await ProcessInboxAsync(socket);
                if (_cork is not null)
                {
                    await WithWriteTimeout(_cork.UncorkAsync());
                }

                if (lastTag != 0)
                {
                    MessagesWritten += messages;
                    _metrics.Delivered(messages, bytes);
                    RecordLatencies();
                    if (subscription.RequiresAcknowledgement)
                    {
                        _tcpAcks?.Flushed(lastTag, messages);
                    }
                }

                if (_clientAcks is not null)
                {
                    await RequeueOverdueAsync();
                }
                else
                {
                    await _tcpAcks!.AcknowledgeAsync();
                }
            }

            return cancellationToken.IsCancellationRequested
                ? (_settings.Stopping.IsCancellationRequested ? SubscriptionEndReason.Shutdown : SubscriptionEndReason.ClientGone)
                : _ending.IsCancellationRequested ? SubscriptionEndReason.ClientGone
                : subscription.EndReason ?? SubscriptionEndReason.ChannelClosed;
        }
        catch (TimeoutException)
        {
            _context.Abort();
            return SubscriptionEndReason.WriteTimeout;
        }
        catch (Exception ex) when (ex is RabbitMQ.Client.Exceptions.AlreadyClosedException or RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            return subscription.EndReason ?? SubscriptionEndReason.ChannelClosed;
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or Microsoft.AspNetCore.Connections.ConnectionAbortedException or ObjectDisposedException or OperationCanceledException)
        {
            return SubscriptionEndReason.WriteFailed;
        }
    }

    /// <summary>
    /// The gateway ends a connection that is still open (the token expired, shutdown, the broker ended the subscription):
    /// the reader publishes nothing more, the publish under way (the broker may have taken it) is waited for up to
    /// <see cref="CloseWait"/>, and the answers not yet sent go out before the close frame (and the acknowledgements
    /// received to the broker), so that the client knows what was published. Messages the client sends from here on are
    /// not published (and not answered). So too when the client sent a message that breaks a rule (<see cref="EndAfterAnswers"/>).
    /// </summary>
    private async Task AnswerLastPublishAsync(WebSocket socket, SubscriptionEndReason reason)
    {
        Task underWay;
        lock (_publishing)
        {
            _publishingEnded = true;
            underWay = _publishUnderWay;
        }

        if (reason is SubscriptionEndReason.WriteFailed or SubscriptionEndReason.WriteTimeout
            || _clientClosed || (_closeBy is not null && !_answersBeforeClose) || socket.State != WebSocketState.Open)
        {
            return;
        }

        try
        {
            await underWay.WaitAsync(CloseWait, _settings.Time);
            await ProcessInboxAsync(socket);
            if (_cork is not null)
            {
                await WithWriteTimeout(_cork.UncorkAsync());
            }
        }
        catch (Exception ex) when (ex is TimeoutException or WebSocketException or IOException or Microsoft.AspNetCore.Connections.ConnectionAbortedException or ObjectDisposedException or OperationCanceledException
            or RabbitMQ.Client.Exceptions.AlreadyClosedException or RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            // Not in time, the client is gone, or the subscription's channel is (an acknowledgement failed): the close goes on.
        }
    }

    /// <summary>Sends one text frame (into the cork while corked); throws <see cref="TimeoutException"/> past <c>server.write_timeout</c>.</summary>
    private ValueTask SendAsync(WebSocket socket, ReadOnlyMemory<byte> frame) =>
        WithWriteTimeout(socket.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None));

    private ValueTask WithWriteTimeout(ValueTask write) =>
        write.IsCompletedSuccessfully ? ValueTask.CompletedTask : new ValueTask(write.AsTask().WaitAsync(_settings.WriteTimeout, _settings.Time));

    /// <summary>The client's acknowledgements, to the broker; the answers the reader prepared, to the client.</summary>
    private async Task ProcessInboxAsync(WebSocket socket)
    {
        while (_inbox.TryDequeue(out var inbound))
        {
            Interlocked.Decrement(ref _inboxCount);
            if (inbound.Reply is { } reply)
            {
                Interlocked.Add(ref _inboxBytes, -reply.Length);
                await SendAsync(socket, reply);
                continue;
            }

            if (_clientAcks is null)
            {
                // A topic takes no acks=client (400): its subscriber resumes with lastEventId instead.
                await SendAsync(socket, ReplyFrames.AckFailed(inbound.Ack, _format.TopicOffsets
                    ? "a topic's events are not acknowledged: resume with lastEventId"
                    : "acknowledgements are automatic on this connection (open it with acks=client)"));
                continue;
            }

            switch (Acknowledge(inbound, out var tag, out var multiple))
            {
                case ClientAck.Acknowledged:
                    await _subscription.AcknowledgeAsync(tag, multiple);
                    break;
                case ClientAck.Unknown:
                    await SendAsync(socket, ReplyFrames.AckFailed(inbound.Ack, "no such message outstanding (never sent, already acknowledged, or given back after ws.ack_timeout)"));
                    break;
            }
        }
    }

    /// <summary>
    /// At the end: the acknowledgements the client sent before it closed (the reader has read them all
    /// before the close) still reach the broker; answers are not sent any more.
    /// </summary>
    private async Task AcknowledgeLastAsync()
    {
        try
        {
            while (_inbox.TryDequeue(out var inbound))
            {
                if (inbound.Reply is null && _subscription.EndReason is null
                    && Acknowledge(inbound, out var tag, out var multiple) == ClientAck.Acknowledged)
                {
                    await _subscription.AcknowledgeAsync(tag, multiple);
                }
            }
        }
        catch (Exception ex) when (ex is RabbitMQ.Client.Exceptions.AlreadyClosedException or RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            // The channel is gone: the broker requeues what was not acknowledged.
        }
    }

    /// <summary>Gives back to the queue what the client did not acknowledge within <c>ws.ack_timeout</c>; sets the timer for the next deadline.</summary>
    private async Task RequeueOverdueAsync()
    {
        var acks = _clientAcks!;
        var now = _settings.Time.GetTimestamp();
        var tag = acks.TakeOverdue(now, out var count);
        if (tag != 0)
        {
            await _subscription.RequeueAsync(tag, multiple: true);
            _metrics.Requeued(RequeueReasons.AckTimeout, count);
        }

        // The timer is set only when the next deadline comes before the one it is set for: as the client acknowledges,
        // deadlines move later, and a timer that fires early merely looks and sets itself again (no timer call per ack).
        var next = acks.NextDeadline ?? long.MaxValue;
        if (next < Volatile.Read(ref _armedDeadline))
        {
            Volatile.Write(ref _armedDeadline, next);
            var due = TimeSpan.FromSeconds(Math.Max(0, next - now) / (double)_settings.Time.TimestampFrequency) + TimeSpan.FromMilliseconds(1);
            _ackTimer!.Change(due, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>The timer is spent (it may fire a little early): the writer looks, and sets it again.</summary>
    private void OnAckDeadline()
    {
        Volatile.Write(ref _armedDeadline, long.MaxValue);
        _subscription.QueueWakeup();
    }

    /// <summary>Reads the client's messages until it closes, breaks a rule, or the connection is gone.</summary>
    private async Task ReceiveLoopAsync(WebSocket socket)
    {
        var chunk = new byte[ReceiveChunk];
        byte[]? message = null;
        var length = 0;
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(chunk.AsMemory(), CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    if (_reads?.InvalidCloseReason == true)
                    {
                        // RFC 6455 7.4.1 and 8.1: data that is not what its type says (a reason is UTF-8 text) is answered with 1007.
                        End((WebSocketCloseStatus.InvalidPayloadData, "close reason is not valid UTF-8"));
                        return;
                    }

                    _clientClosed = true;
                    End(null);
                    return;
                }

                if (result.MessageType == WebSocketMessageType.Binary)
                {
                    EndAfterAnswers((WebSocketCloseStatus.InvalidMessageType, "binary messages are not accepted: send JSON text"));
                    return;
                }

                if (length + result.Count > _options.MaxMessageSize)
                {
                    EndAfterAnswers((WebSocketCloseStatus.MessageTooBig, $"message larger than {_options.MaxMessageSize} bytes"));
                    return;
                }

                ReadOnlyMemory<byte> complete;
                if (result.EndOfMessage && length == 0)
                {
                    complete = chunk.AsMemory(0, result.Count);
                }
                else
                {
                    message = Append(message, length, chunk.AsSpan(0, result.Count));
                    length += result.Count;
                    if (!result.EndOfMessage)
                    {
                        continue;
                    }

                    complete = message.AsMemory(0, length);
                    length = 0;
                }

                if (!System.Text.Unicode.Utf8.IsValid(complete.Span))
                {
                    // ASP.NET Core's WebSocket checks each frame, but lets through a message whose last frame is empty and
                    // whose frames before it end within a character: RFC 6455 8.1 fails such a message with 1007 too.
                    EndAfterAnswers((WebSocketCloseStatus.InvalidPayloadData, "text message is not valid UTF-8"));
                    return;
                }

                var received = ClientMessage.Parse(complete);
                if (message is not null)
                {
                    // Parse copies what it keeps (strings, a publish's body): the buffer the frames were put together in goes
                    // back now. Kept until the connection ended, each connection that once sent a large message held up to
                    // twice ws.max_message_size for its whole life, which memory admission counts against everyone.
                    ArrayPool<byte>.Shared.Return(message);
                    message = null;
                }

                if (!await HandleAsync(received))
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or Microsoft.AspNetCore.Connections.ConnectionAbortedException or ObjectDisposedException or OperationCanceledException)
        {
            // The connection is gone (or was aborted at the end), or the client broke the protocol: then the WebSocket has
            // sent the close frame that says so (Faulted), which must reach the client (DisposeSocket).
            _protocolError = ex is WebSocketException { WebSocketErrorCode: WebSocketError.Faulted };
            End(null);
        }
        finally
        {
            if (message is not null)
            {
                ArrayPool<byte>.Shared.Return(message);
            }
        }
    }

    private static byte[] Append(byte[]? message, int length, ReadOnlySpan<byte> data)
    {
        if (message is null || length + data.Length > message.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(length + data.Length, 2 * (message?.Length ?? ReceiveChunk)));
            if (message is not null)
            {
                message.AsSpan(0, length).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(message);
            }

            message = larger;
        }

        data.CopyTo(message.AsSpan(length));
        return message;
    }

    /// <summary>False when the connection is to end.</summary>
    private async Task<bool> HandleAsync(ClientMessage received)
    {
        switch (received)
        {
            case ClientMessage.Ack ack:
                return Post(new Inbound(null, ack.Id, ack.Multiple));
            case ClientMessage.Publish publish:
                Task<bool> posted;
                lock (_publishing)
                {
                    if (_publishingEnded)
                    {
                        // The gateway is closing the connection: nothing more is published.
                        return true;
                    }

                    posted = PublishAndPostAsync(publish);
                    _publishUnderWay = posted;
                }

                return await posted;
            case ClientMessage.Ping ping:
                // Answered in turn with the other answers, by the writer: a pong says the connection carries frames both ways.
                return Post(new Inbound(ReplyFrames.Pong(ping.Value), 0, false));
            case ClientMessage.BadAck bad:
                // Nothing is acknowledged, and the connection goes on: the client may send it again, corrected.
                return Post(new Inbound(ReplyFrames.AckRefused(bad.Id, bad.Reason), 0, false));
            case ClientMessage.BadPublish bad:
                lock (_publishing)
                {
                    if (_publishingEnded)
                    {
                        return true; // as a valid publish now: the client is told nothing more of what it sends
                    }
                }

                // Nothing is published, and the connection goes on. It counts as a publish, so that a client matching
                // answers without a ref to its publishes by their number keeps counting right.
                _publishes++;
                _metrics.ClientPublish(PublishOutcomes.Refused);
                var reference = bad.RefGiven ? bad.Ref : _publishes.ToString(CultureInfo.InvariantCulture);
                return Post(new Inbound(ReplyFrames.PublishFailed(reference, bad.Reason), 0, false));
            case ClientMessage.Invalid invalid:
                EndAfterAnswers((WebSocketCloseStatus.PolicyViolation, invalid.Reason));
                return false;
            default:
                return true;
        }
    }

    private async Task<bool> PublishAndPostAsync(ClientMessage.Publish publish) => Post(new Inbound(await PublishAsync(publish), 0, false));

    /// <summary>Hands <paramref name="inbound"/> to the writer; false (and the connection ends) when the client sends far more than it reads.</summary>
    private bool Post(Inbound inbound)
    {
        var bytes = inbound.Reply?.Length ?? 0;
        var waiting = Interlocked.Add(ref _inboxBytes, bytes);
        if (Interlocked.Increment(ref _inboxCount) > MaxInbox || (waiting > MaxInboxBytes && waiting > bytes))
        {
            End((WebSocketCloseStatus.PolicyViolation, "too many messages without reading the answers"));
            return false;
        }

        _inbox.Enqueue(inbound);
        _subscription.QueueWakeup();
        return true;
    }

    /// <summary>Publishes what the client sent and returns the answer: published once the broker confirmed, or why not.</summary>
    private async Task<byte[]> PublishAsync(ClientMessage.Publish publish)
    {
        _publishes++;
        var reference = publish.Ref ?? _publishes.ToString(CultureInfo.InvariantCulture);

        if (!_options.Publish)
        {
            _metrics.ClientPublish(PublishOutcomes.Refused);
            return ReplyFrames.PublishFailed(reference, "publishing is off (ws.publish)");
        }

        if (_permissions.PublishRefusal(_context.User, publish.To) is { } forbidden)
        {
            _metrics.ClientPublish(PublishOutcomes.Refused);
            return ReplyFrames.PublishFailed(reference, forbidden);
        }

        if (!_options.PublishRoutingKey.TryResolve(publish.To, _context.Request, out var routingKey, out var why))
        {
            _metrics.ClientPublish(PublishOutcomes.Refused);
            return ReplyFrames.PublishFailed(reference, why);
        }

        if (_options.RefusedType(publish.Type) is { } refusedType)
        {
            // With sse.event, every EventSource reading where this lands would take it for its connection's own event.
            _metrics.ClientPublish(PublishOutcomes.Refused);
            return ReplyFrames.PublishFailed(reference, refusedType);
        }

        var sender = _permissions.Sender(_context.User);
        if (sender is null && _permissions.IdentifiesSubscribers)
        {
            // Published, the message would reach subscribers without a "from", as a service's does: a page trusting
            // messages without one (the chat's presence events) would take this client's for the gateway's own.
            _metrics.ClientPublish(PublishOutcomes.Refused);
            return ReplyFrames.PublishFailed(reference, $"{SubscriberAuthenticator.HolderOf(_context.User)} has no {_permissions.SenderClaim}: subscribers could not be shown who sent the message");
        }

        if (sender is not null && System.Text.Encoding.UTF8.GetByteCount(sender) > MessageSender.MaxBytes)
        {
            // Subscribers are shown a sender of at most MaxBytes ("from"): published, the message would reach them without
            // one, as a service's does, and a page trusting messages without "from" (the chat's presence events) would
            // take this client's for the gateway's own.
            _metrics.ClientPublish(PublishOutcomes.Refused);
            return ReplyFrames.PublishFailed(reference, $"{SubscriberAuthenticator.HolderOf(_context.User)}'s {_permissions.SenderClaim} is longer than {MessageSender.MaxBytes} bytes: subscribers could not be shown who sent the message");
        }

        // Who publishes (the token's sub, else the client's address): the key of its rate budget and of its message_ids.
        var publisher = _publishRates.PublisherKey(sender, _context);
        if (!_publishRates.TryAcquire(publisher))
        {
            _metrics.ClientPublish(PublishOutcomes.RateLimited);
            return ReplyFrames.PublishFailed(reference, $"rate limit exceeded (ws.publish_rate: {_options.PublishRate} per second)");
        }

        var now = _settings.Time.GetUtcNow();
        var headers = new Dictionary<string, object?> { ["timestamp_in_ms"] = now.ToUnixTimeMilliseconds() };
        if (sender is not null)
        {
            // Set by the gateway alone, from the verified token: a client sends no headers, so it cannot choose it.
            headers[MessageSender.HeaderName] = sender;
        }

        var properties = new BasicProperties
        {
            ContentType = publish.ContentType,
            DeliveryMode = DeliveryModes.Persistent,
            MessageId = publish.MessageId is { } clientId ? MessageSender.MessageId(publisher, clientId) : Guid.NewGuid().ToString("N"),
            Timestamp = new AmqpTimestamp(now.ToUnixTimeSeconds()),
            AppId = "eventsourced",
            Headers = headers,
        };
        if (publish.Type is not null)
        {
            properties.Type = publish.Type;
        }

        var result = await _publisher.PublishAsync(_options.PublishExchange, routingKey, properties, publish.Body, _settings.Stopping);
        switch (result)
        {
            case PublishResult.Confirmed:
                _metrics.ClientPublish(PublishOutcomes.Published);
                return ReplyFrames.Published(reference);
            case PublishResult.Unroutable:
                _metrics.ClientPublish(PublishOutcomes.Unroutable);
                return ReplyFrames.PublishFailed(reference, "no queue receives messages for this destination");
            case PublishResult.Blocked:
                _metrics.ClientPublish(PublishOutcomes.Failed);
                return ReplyFrames.PublishFailed(reference, "the broker refuses publishes for now (resource alarm)");
            default:
                _metrics.ClientPublish(PublishOutcomes.Failed);
                return ReplyFrames.PublishFailed(reference, "the broker did not take the message");
        }
    }

    /// <summary>
    /// Ends the connection for a message that breaks a rule, after the answers to what the client sent before it: whether
    /// the writer had sent them when the reader met the message was chance (a client sending pings and then a message the
    /// gateway refuses, in one write, got the pongs in some tries and only the close frame in others).
    /// </summary>
    private void EndAfterAnswers((WebSocketCloseStatus Status, string Description) closeBy)
    {
        _answersBeforeClose = _closeBy is null;
        End(closeBy);
    }

    /// <summary>The reader is done; <paramref name="closeBy"/> says with what the gateway closes (null: the client closed, or the connection is gone).</summary>
    private void End((WebSocketCloseStatus Status, string Description)? closeBy)
    {
        _closeBy ??= closeBy;
        try
        {
            _ending.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The session has ended already.
        }
    }

    /// <summary>Ends the WebSocket with a close code that says why, when the connection is still there to carry it.</summary>
    private async Task CloseAsync(WebSocket socket, SubscriptionEndReason reason, CancellationToken cancellationToken)
    {
        if (socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived))
        {
            return;
        }

        // The gateway's lifetime token fires for the client leaving, shutdown, or (the only other cause) the token's expiry.
        var tokenExpired = cancellationToken.IsCancellationRequested && !_context.RequestAborted.IsCancellationRequested && !_settings.Stopping.IsCancellationRequested;
        // A client's close is answered with its own code (RFC 6455 5.5.1: "typically echos the status code it received"),
        // so a page that closed with 4001 reads 4001 in its close event. A close without a code is reported as 1000 by
        // .NET's WebSocket; Empty (1005) is never sent, as .NET would put it on the wire, where RFC 6455 7.4.1 forbids it.
        var (status, description) = _closeBy ?? (_clientClosed
            ? (socket.CloseStatus is { } received and not WebSocketCloseStatus.Empty ? received : WebSocketCloseStatus.NormalClosure, string.Empty)
            : tokenExpired ? (WebSocketCloseStatus.PolicyViolation, "token expired")
            : reason switch
            {
                SubscriptionEndReason.Shutdown => (WebSocketCloseStatus.EndpointUnavailable, "gateway is shutting down"),
                SubscriptionEndReason.ConsumerCancelled => (WebSocketCloseStatus.InternalServerError, "the broker ended the subscription (queue deleted, or its node down)"),
                SubscriptionEndReason.BufferOverflow => (WebSocketCloseStatus.InternalServerError, "subscription buffer overflow"),
                SubscriptionEndReason.ChannelClosed => (WebSocketCloseStatus.InternalServerError, "the broker closed the subscription"),
                SubscriptionEndReason.BrokerConnectionLost => (WebSocketCloseStatus.InternalServerError, "the broker connection was lost"),
                SubscriptionEndReason.SlowReader => (WebSocketCloseStatus.InternalServerError, "client too slow for the topic: resume with lastEventId"),
                SubscriptionEndReason.MemoryFull => (WebSocketCloseStatus.InternalServerError, "gateway memory nearly full while the client was behind"),
                _ => (WebSocketCloseStatus.NormalClosure, string.Empty),
            });
        try
        {
            using var timeout = new CancellationTokenSource(CloseWait, _settings.Time);
            if (_cork is not null)
            {
                // A batch that failed half-way leaves it corked: the close frame must go out, after what is held.
                await _cork.UncorkAsync(timeout.Token);
            }

            await socket.CloseOutputAsync(status, Truncate(description), timeout.Token);
            WebSocketLog.Closed(_logger, _subscription.Name, status, description);
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException or Microsoft.AspNetCore.Connections.ConnectionAbortedException)
        {
            socket.Abort();
        }
    }

    /// <summary>A close frame's reason is at most 123 bytes of UTF-8: longer ones are cut between characters, with "...".</summary>
    internal static string Truncate(string description) => Truncate(description, WebSocketRefusal.MaxReasonBytes);

    /// <summary><paramref name="description"/> in at most <paramref name="maxBytes"/> bytes of UTF-8: cut between characters, with "...", when longer.</summary>
    internal static string Truncate(string description, int maxBytes)
    {
        if (System.Text.Encoding.UTF8.GetByteCount(description) <= maxBytes)
        {
            return description;
        }

        var length = description.Length;
        while (length > 0 && System.Text.Encoding.UTF8.GetByteCount(description.AsSpan(0, length)) > maxBytes - 3)
        {
            length--;
        }

        if (length > 0 && char.IsHighSurrogate(description[length - 1]))
        {
            length--;
        }

        return description[..length] + "...";
    }

    private void RecordLatencies()
    {
        if (_published.Count == 0)
        {
            return;
        }

        var sent = _settings.Time.GetUtcNow();
        foreach (var published in _published)
        {
            _metrics.DeliveryLatency(published, sent);
        }

        _published.Clear();
    }

    /// <summary>From the reader to the writer: an answer to send, or a client's acknowledgement.</summary>
    /// <summary>The client's acknowledgement of an id; an id below the connection's first (of an earlier connection, say) names nothing here.</summary>
    private ClientAck Acknowledge(Inbound inbound, out ulong tag, out bool multiple)
    {
        if (_format.TagOf(inbound.Ack) is { } acked)
        {
            return _clientAcks!.Acknowledge(acked, inbound.Multiple, out tag, out multiple);
        }

        tag = 0;
        multiple = false;
        return ClientAck.Unknown;
    }

    private readonly record struct Inbound(byte[]? Reply, ulong Ack, bool Multiple);

    /// <summary>The request's lifetime, whose <see cref="Abort"/> does nothing while <see cref="Graceful"/> (see <see cref="DisposeSocket"/>).</summary>
    private sealed class GracefulEndLifetime(IHttpRequestLifetimeFeature inner) : IHttpRequestLifetimeFeature
    {
        public bool Graceful { get; set; }

        public CancellationToken RequestAborted
        {
            get => inner.RequestAborted;
            set => inner.RequestAborted = value;
        }

        public void Abort()
        {
            if (!Graceful)
            {
                inner.Abort();
            }
        }
    }
}
