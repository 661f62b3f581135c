using System.Buffers;
using System.IO.Pipelines;
using Eventsourced.Acknowledging;
using Eventsourced.Consuming;
using Eventsourced.Http;
using Eventsourced.Metrics;
using Eventsourced.Sockets;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Sse;

/// <summary>
/// Writes one subscription to one response. The single writer of the response: it drains whatever
/// deliveries are ready into one write and one flush, then acknowledges them all with one multiple-ack.
/// A delivery is acked only after its bytes were flushed to the client; what is still buffered when the
/// stream ends is never acked and so goes back to the queue.
/// </summary>
internal sealed class SseWriter : ISubscriptionSession
{
    private const int MaxBatchBytes = 64 * 1024;

    /// <summary>How many times the writer looks whether the kernel has taken Kestrel's bytes, to hand over the socket.</summary>
    private const int TakeOverTries = 64;

    private readonly HttpContext _context;
    private readonly ISubscription _subscription;
    private readonly SubscriptionSettings _settings;
    private readonly GatewayMetrics _metrics;
    private readonly List<MessageTimestamp> _published = new(16);
    private readonly TcpDeliveryAcks _delivery;
    private readonly ReadOnlyMemory<byte> _opening;
    private long _lastWrite;
    private ITimer? _heartbeat;
    private DirectChunkWriter? _direct;
    private int _takeOverTries = TakeOverTries;
    private readonly string _endEvent;
    private long _messagesWritten;
    private int _directFailure = -1;

    /// <param name="opening">What opens the stream (<see cref="SseFormat.Opening"/>); by default the original's <c>: SSE stream</c> comment.</param>
    /// <param name="endEvent"><c>sse.end_event</c>: the type of the event that says why the gateway ends the stream; <c>""</c>: the comment only.</param>
    public SseWriter(HttpContext context, ISubscription subscription, SubscriptionSettings settings, GatewayMetrics metrics, ReadOnlyMemory<byte> opening = default, string endEvent = "")
    {
        _context = context;
        _opening = opening;
        _endEvent = endEvent;
        _subscription = subscription;
        _settings = settings;
        _lastWrite = settings.Time.GetTimestamp();
        _metrics = metrics;
        _delivery = new TcpDeliveryAcks(context, subscription, settings.Time);
    }

    /// <summary>Written by this writer, and by the subscription's source straight to the socket (<see cref="IDirectWrites"/>).</summary>
    public long MessagesWritten => _messagesWritten + ((_subscription as IDirectWrites)?.WrittenDirectly ?? 0);

    /// <summary>Streams until the client leaves, the consumer ends, the write times out, or the token fires.</summary>
    public async Task<SubscriptionEndReason> RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await StreamAsync(cancellationToken);
        }
        finally
        {
            // The last words are written; the rest of the response waits for FinishAsync, after the subscription is released.
            Volatile.Read(ref _direct)?.StopWrites();
            // Counted delivered when flushed; what the client's TCP never acknowledged goes back to the queue.
            if (await _delivery.AcknowledgeLastAsync() is > 0 and var requeued)
            {
                _metrics.Requeued(RequeueReasons.TcpUnacknowledged, requeued);
            }

            _delivery.Dispose();
            // Never written, never acknowledged: these go back to the queue; their buffers to the pool.
            while (_subscription.Items.TryRead(out var unwritten))
            {
                unwritten.Release();
            }
        }
    }

    private async Task<SubscriptionEndReason> StreamAsync(CancellationToken cancellationToken)
    {
        var response = _context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        SseResponseHeaders.Apply(response, _settings.Headers.Sse);
        _context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        var writer = _delivery.CountWrites(response.BodyWriter);
        var subscription = _subscription;
        using var heartbeat = _heartbeat = _settings.Heartbeat is { } interval
            ? _settings.Time.CreateTimer(static s => ((SseWriter)s!).OnHeartbeatTick(), this, interval, interval)
            : null;
        // One registration for the stream's life, not one per wait: a cancellable WaitToReadAsync
        // allocates a new waiter each time, and at 10,000 streams those young waiters, referenced from
        // old buffers, made every garbage collection long.
        using var stop = cancellationToken.UnsafeRegister(static s => ((ISubscription)s!).Stop(), subscription);
        try
        {
            writer.Write(_opening.IsEmpty ? SseFraming.Opening : _opening.Span);
            if ((subscription as IStartPosition)?.StartsAfterId is { } startsAfter)
            {
                // Before any event, in the same flush: a client cut off before its first event resumes from here.
                writer.Write(SseFraming.IdOnly(startsAfter));
            }

            if (!await FlushAsync(writer, cancellationToken))
            {
                return SubscriptionEndReason.ClientGone;
            }

            while (await subscription.Items.WaitToReadAsync(CancellationToken.None))
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (subscription.EndReason is { } ended)
                {
                    return await EndAsync(writer, ended);
                }

                // Before the writes, not after them: right after a flush Kestrel's sender still has its bytes.
                TryTakeOver();
                if (_direct is { } direct)
                {
                    ulong writtenTag = 0;
                    var written = 0;
                    if ((DirectFailure ?? WriteDirect(direct, out writtenTag, out written)) is { } failure)
                    {
                        if (failure == SubscriptionEndReason.SlowReader)
                        {
                            // Found here rather than by the subscription's source: told, so that it counts it as its own.
                            (subscription as IDirectWrites)?.DirectWriteEnded(failure);
                        }

                        return await EndAsync(writer, failure);
                    }

                    if (writtenTag != 0 && subscription.RequiresAcknowledgement)
                    {
                        _delivery.Flushed(writtenTag, written, direct.Written);
                    }

                    // As a flush waits while the client is behind: what the kernel could not take goes out first.
                    if (direct.PendingBytes > 0 && !await direct.WhenDrainedAsync().WaitAsync(cancellationToken))
                    {
                        return await EndAsync(writer, DirectFailure ?? SubscriptionEndReason.WriteFailed);
                    }

                    await _delivery.AcknowledgeAsync();
                    continue;
                }

                ulong lastTag = 0;
                var messages = 0;
                long bytes = 0;
                var heartbeats = 0;
                while (bytes < MaxBatchBytes && subscription.Items.TryRead(out var delivery))
                {
                    if (!delivery.IsMessage)
                    {
                        // A heartbeat, or only a wake-up to look at the acknowledgements again.
                        subscription.Taken(delivery);
                        if (delivery.Kind == OutboundKind.Heartbeat)
                        {
                            writer.Write(delivery.Frame);
                            heartbeats++;
                        }

                        continue;
                    }

                    writer.Write(delivery.Frame);
                    Written(delivery, ref lastTag, ref messages, ref bytes);
                }

                if (lastTag != 0 || heartbeats != 0)
                {
                    if (!await FlushAsync(writer, cancellationToken))
                    {
                        return SubscriptionEndReason.ClientGone;
                    }

                    Counted(heartbeats, messages, bytes);
                }

                if (lastTag != 0)
                {
                    Volatile.Write(ref _lastWrite, _settings.Time.GetTimestamp());
                    if (subscription.RequiresAcknowledgement)
                    {
                        _delivery.Flushed(lastTag, messages);
                    }
                }

                await _delivery.AcknowledgeAsync();
            }

            cancellationToken.ThrowIfCancellationRequested();
            return await EndAsync(writer, subscription.EndReason ?? SubscriptionEndReason.ChannelClosed);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return _settings.Stopping.IsCancellationRequested && !_context.RequestAborted.IsCancellationRequested
                ? await EndAsync(writer, SubscriptionEndReason.Shutdown)
                : SubscriptionEndReason.ClientGone;
        }
        catch (TimeoutException) when (HttpProtocol.IsHttp2(_context.Request.Protocol))
        {
            // Over HTTP/2 the stream is reset (RST_STREAM; the connection's other streams go on). An end left to go
            // out behind what a closed flow-control window holds never did: nothing was in flight, so no kernel
            // timeout dropped the connection, and the stream, with the connection the client kept open around it,
            // stayed for as long as the client liked, counted by no per-client limit.
            _context.Abort();
            return SubscriptionEndReason.WriteTimeout;
        }
        catch (TimeoutException)
        {
            // A proper end rather than a reset: the flush stuck behind a client that does not read is given up,
            // the end comment and the response's end are left to go out after what is queued, and the
            // connection closes after them. A client that reads again gets it all; one that never does is
            // dropped by the kernel (TCP_USER_TIMEOUT).
            writer.CancelPendingFlush();
            writer.Write(StreamEndComment.For(SubscriptionEndReason.WriteTimeout, _endEvent)!);
            _context.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionLifetimeNotificationFeature>()?.RequestClose();
            return SubscriptionEndReason.WriteTimeout;
        }
        catch (Exception ex) when (ex is RabbitMQ.Client.Exceptions.AlreadyClosedException or RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            return await EndAsync(writer, subscription.EndReason ?? SubscriptionEndReason.ChannelClosed);
        }
        catch (Exception ex) when (ex is IOException or Microsoft.AspNetCore.Connections.ConnectionAbortedException or ObjectDisposedException)
        {
            return SubscriptionEndReason.WriteFailed;
        }
    }

    /// <summary>The gate ends the stream for a reason of its own (the token expired): the client is told why, as for every end.</summary>
    public async Task NotifyEndAsync(SubscriptionEndReason reason, CancellationToken cancellationToken) =>
        await EndAsync(_context.Response.BodyWriter, reason);

    /// <summary>Tells the client why its stream ends (<see cref="StreamEndComment"/>), within the write timeout.</summary>
    private async Task<SubscriptionEndReason> EndAsync(PipeWriter writer, SubscriptionEndReason reason)
    {
        if (_direct is { } direct)
        {
            if (StreamEndComment.For(reason, _endEvent) is { } last && !_context.RequestAborted.IsCancellationRequested)
            {
                lock (direct.Sync)
                {
                    direct.WriteFrameLocked(last, overLimit: true);
                }
            }

            direct.StopWrites();
            return reason;
        }

        if (StreamEndComment.For(reason, _endEvent) is { } comment && !_context.RequestAborted.IsCancellationRequested)
        {
            writer.Write(comment);
            try
            {
                await FlushAsync(writer, CancellationToken.None);
            }
            catch (Exception ex) when (ex is TimeoutException or IOException or Microsoft.AspNetCore.Connections.ConnectionAbortedException or ObjectDisposedException or InvalidOperationException)
            {
                writer.CancelPendingFlush();
            }
        }

        return reason;
    }

    /// <summary>
    /// With <c>sse.direct_writes</c>, once the response may be written straight to the socket (and a topic's subscriber
    /// reads the live feed): this writer writes through a <see cref="DirectChunkWriter"/> from now on, and hands it to a
    /// subscription whose source writes too (<see cref="IDirectWrites"/>); Kestrel writes again after <see cref="FinishAsync"/>.
    /// </summary>
    private void TryTakeOver()
    {
        if (_direct is not null || _takeOverTries <= 0)
        {
            return;
        }

        var source = _subscription as IDirectWrites;
        if (!_settings.DirectWrites || source is { MayWriteDirectly: false })
        {
            return;
        }

        if (!DirectChunkWriter.Eligible(_context))
        {
            _takeOverTries = 0;
            return;
        }

        _takeOverTries--;
        // A queue's writer is the only one that writes: it waits for what the kernel cannot take, as a flush would,
        // so nothing is refused for lack of room (source?.Capacity bounds a topic's, whose feed does not wait).
        if (DirectChunkWriter.TryTakeOver(_context, source?.Capacity ?? int.MaxValue, _settings.WriteTimeout, _settings.Time, OnDirectWriteFailed) is { } taken)
        {
            Volatile.Write(ref _direct, taken);
            source?.WriteDirectly(taken);
            _metrics.DirectWriteStream();
        }
    }

    /// <summary>Why a direct write failed, once one has (<see cref="OnDirectWriteFailed"/>).</summary>
    private SubscriptionEndReason? DirectFailure => Volatile.Read(ref _directFailure) is var reason and >= 0 ? (SubscriptionEndReason)reason : null;

    /// <summary>A direct write failed (under the writer's lock): the stream ends for it, woken if it waits for deliveries.</summary>
    private void OnDirectWriteFailed(bool timedOut)
    {
        Volatile.Write(ref _directFailure, (int)(timedOut ? SubscriptionEndReason.WriteTimeout : SubscriptionEndReason.WriteFailed));
        if (_subscription is IDirectWrites source)
        {
            source.DirectWriteEnded(timedOut ? SubscriptionEndReason.WriteTimeout : SubscriptionEndReason.WriteFailed);
        }
        else
        {
            _subscription.QueueWakeup();
        }
    }

    /// <summary>
    /// Writes what waits in the buffer through the socket's writer, as chunks gathered into one send (under its lock:
    /// a topic's feed writes only to the socket of an empty buffer).
    /// </summary>
    private SubscriptionEndReason? WriteDirect(DirectChunkWriter direct, out ulong lastTag, out int messages)
    {
        lastTag = 0;
        var subscription = _subscription;
        messages = 0;
        long bytes = 0;
        var heartbeats = 0;
        SubscriptionEndReason? failure = null;
        var gathered = ArrayPool<byte>.Shared.Rent(DirectChunkWriter.ChunkLength(MaxBatchBytes));
        var length = 0;
        try
        {
            lock (direct.Sync)
            {
                while (failure is null && bytes < MaxBatchBytes && subscription.Items.TryRead(out var delivery))
                {
                    if (delivery.Kind == OutboundKind.Wakeup)
                    {
                        subscription.Taken(delivery);
                        continue;
                    }

                    if (length + DirectChunkWriter.ChunkLength(delivery.Length) > gathered.Length)
                    {
                        failure = Failed(direct.WriteChunkLocked(gathered.AsSpan(0, length), counts: messages > 0));
                        length = 0;
                    }

                    if (failure is null)
                    {
                        if (DirectChunkWriter.ChunkLength(delivery.Length) > gathered.Length)
                        {
                            failure = Failed(direct.WriteFrameLocked(delivery.Frame, counts: delivery.IsMessage));
                        }
                        else
                        {
                            length += DirectChunkWriter.WriteChunk(delivery.Frame, gathered.AsSpan(length));
                        }
                    }

                    if (!delivery.IsMessage)
                    {
                        subscription.Taken(delivery);
                        heartbeats++;
                        continue;
                    }

                    Written(delivery, ref lastTag, ref messages, ref bytes);
                }

                if (failure is null && length > 0)
                {
                    failure = Failed(direct.WriteChunkLocked(gathered.AsSpan(0, length), counts: messages > 0));
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(gathered);
        }

        if (failure is not null)
        {
            // Not (all) written: nothing of this batch is acknowledged; the queue has it again once the stream ends.
            lastTag = 0;
            messages = 0;
            _published.Clear();
            return failure;
        }

        Counted(heartbeats, messages, bytes);
        return null;

        static SubscriptionEndReason? Failed(DirectWrite written) => written switch
        {
            DirectWrite.Full => SubscriptionEndReason.SlowReader,
            DirectWrite.Closed => SubscriptionEndReason.WriteFailed,
            _ => null,
        };
    }

    /// <summary>
    /// After the subscription was released: gives the response back to Kestrel (which writes its end) once the kernel
    /// has everything written straight to the socket, for as long as the connection lives; a stream ended because its
    /// client stopped reading closes its connection after that, as one written by Kestrel does. A connection that
    /// failed first is aborted rather than mixing the two writers.
    /// </summary>
    public async Task FinishAsync()
    {
        if (Interlocked.Exchange(ref _direct, null) is not { } direct)
        {
            return;
        }

        var timedOut = direct.TimedOut;
        if (!await direct.CloseAsync())
        {
            _context.Abort();
        }
        else if (timedOut)
        {
            _context.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionLifetimeNotificationFeature>()?.RequestClose();
        }
    }

    /// <summary>False when the client is gone; throws <see cref="TimeoutException"/> past the write timeout.</summary>
    private async ValueTask<bool> FlushAsync(PipeWriter writer, CancellationToken cancellationToken)
    {
        var flush = writer.FlushAsync(cancellationToken);
        var result = flush.IsCompletedSuccessfully
            ? flush.Result
            : await flush.AsTask().WaitAsync(_settings.WriteTimeout, _settings.Time, cancellationToken);
        return !result.IsCompleted && !result.IsCanceled;
    }

    /// <summary>A message of the batch was written (to the response or the socket): its buffer goes back, it is counted.</summary>
    private void Written(OutboundItem delivery, ref ulong lastTag, ref int messages, ref long bytes)
    {
        delivery.Release();
        lastTag = delivery.Tag;
        messages++;
        bytes += delivery.Length;
        if (delivery.Published.IsPresent)
        {
            _published.Add(delivery.Published);
        }
    }

    /// <summary>The batch is out (flushed, or taken by the kernel): its heartbeats, messages and latencies are counted.</summary>
    private void Counted(int heartbeats, int messages, long bytes)
    {
        for (var i = 0; i < heartbeats; i++)
        {
            _metrics.Heartbeat();
        }

        if (messages > 0)
        {
            RecordLatencies();
            _messagesWritten += messages;
            _metrics.Delivered(messages, bytes);
        }
    }

    /// <summary>Latency runs to the flush: recorded once the batch's bytes are out.</summary>
    private void RecordLatencies()
    {
        if (_published.Count == 0)
        {
            return;
        }

        var flushed = _settings.Time.GetUtcNow();
        foreach (var published in _published)
        {
            _metrics.DeliveryLatency(published, flushed);
        }

        _published.Clear();
    }

    /// <summary>
    /// A heartbeat once the stream has been silent for the interval since its last message (not at the first tick after
    /// a tick that saw a message, which left up to twice the interval of silence: a proxy whose read timeout is just above
    /// the interval cut such a stream). A tick that comes too early moves the next one to the interval after that message.
    /// </summary>
    private void OnHeartbeatTick()
    {
        if (_settings.Heartbeat is not { } interval)
        {
            return;
        }

        var lastWrite = Math.Max(Volatile.Read(ref _lastWrite), Volatile.Read(ref _direct)?.LastWrite ?? long.MinValue);
        // The direct writer stamps its writes with the same TimeProvider (_settings.Time).
        var silent = _settings.Time.GetElapsedTime(lastWrite);
        if (silent >= interval)
        {
            _subscription.QueueHeartbeat();
            return;
        }

        // A timer the ending stream disposed meanwhile just says false.
        Volatile.Read(ref _heartbeat)?.Change(interval - silent, interval);
    }
}
