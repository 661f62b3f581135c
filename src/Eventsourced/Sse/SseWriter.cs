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
    private int _wroteSinceTick;
    private DirectChunkWriter? _direct;
    private int _takeOverTries = TakeOverTries;
    private long _messagesWritten;

    /// <param name="opening">What opens the stream (<see cref="SseFormat.Opening"/>); by default the original's <c>: SSE stream</c> comment.</param>
    public SseWriter(HttpContext context, ISubscription subscription, SubscriptionSettings settings, GatewayMetrics metrics, ReadOnlyMemory<byte> opening = default)
    {
        _context = context;
        _opening = opening;
        _subscription = subscription;
        _settings = settings;
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
            await CloseDirectAsync();
            await _delivery.AcknowledgeLastAsync();
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
        var writer = response.BodyWriter;
        var subscription = _subscription;
        using var heartbeat = _settings.Heartbeat is { } interval
            ? _settings.Time.CreateTimer(static s => ((SseWriter)s!).OnHeartbeatTick(), this, interval, interval)
            : null;
        // One registration for the stream's life, not one per wait: a cancellable WaitToReadAsync
        // allocates a new waiter each time, and at 10,000 streams those young waiters, referenced from
        // old buffers, made every garbage collection long.
        using var stop = cancellationToken.UnsafeRegister(static s => ((ISubscription)s!).Stop(), subscription);
        try
        {
            writer.Write(_opening.IsEmpty ? SseFraming.Opening : _opening.Span);
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
                    if (WriteDirect(direct) is { } failure)
                    {
                        return await EndAsync(writer, failure);
                    }

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
                    delivery.Release();

                    lastTag = delivery.Tag;
                    messages++;
                    bytes += delivery.Length;
                    if (delivery.Published.IsPresent)
                    {
                        _published.Add(delivery.Published);
                    }
                }

                if (lastTag != 0 || heartbeats != 0)
                {
                    if (!await FlushAsync(writer, cancellationToken))
                    {
                        return SubscriptionEndReason.ClientGone;
                    }

                    for (var i = 0; i < heartbeats; i++)
                    {
                        _metrics.Heartbeat();
                    }
                }

                if (lastTag != 0)
                {
                    RecordLatencies();
                    Volatile.Write(ref _wroteSinceTick, 1);
                    _messagesWritten += messages;
                    _metrics.Delivered(messages, bytes);
                    if (subscription.RequiresAcknowledgement)
                    {
                        _delivery.Flushed(lastTag);
                    }
                }

                await _delivery.AcknowledgeAsync(cancellationToken);
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
        catch (TimeoutException)
        {
            // A proper end rather than a reset: the flush stuck behind a client that does not read is given up,
            // the end comment and the response's end are left to go out after what is queued, and the
            // connection closes after them. A client that reads again gets it all; one that never does is
            // dropped by the kernel (TCP_USER_TIMEOUT).
            writer.CancelPendingFlush();
            writer.Write(StreamEndComment.For(SubscriptionEndReason.WriteTimeout)!);
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
            if (StreamEndComment.For(reason) is { } last && !_context.RequestAborted.IsCancellationRequested)
            {
                lock (direct.Sync)
                {
                    direct.WriteFrameLocked(last, overLimit: true);
                }
            }

            await CloseDirectAsync();
            return reason;
        }

        if (StreamEndComment.For(reason) is { } comment && !_context.RequestAborted.IsCancellationRequested)
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
    /// Once the subscription reads nothing that needs acknowledging (a topic's live subscriber) and its response may be
    /// written straight to the socket, hands the socket to the subscription's source (<see cref="IDirectWrites"/>):
    /// from then on this writer writes through the same <see cref="DirectChunkWriter"/>, and Kestrel not before it is closed.
    /// </summary>
    private void TryTakeOver()
    {
        if (_direct is not null || _takeOverTries <= 0 || _subscription is not IDirectWrites { MayWriteDirectly: true } source)
        {
            return;
        }

        _takeOverTries = DirectChunkWriter.Eligible(_context) ? _takeOverTries - 1 : 0;
        if (_takeOverTries > 0
            && DirectChunkWriter.TryTakeOver(_context, source.Capacity, _settings.WriteTimeout, _settings.Time, source.DirectWriteFailed) is { } taken)
        {
            Volatile.Write(ref _direct, taken);
            source.WriteDirectly(taken);
        }
    }

    /// <summary>Writes what waits in the buffer through the socket's writer (under its lock: the source writes only to an empty buffer's socket).</summary>
    private SubscriptionEndReason? WriteDirect(DirectChunkWriter direct)
    {
        var subscription = _subscription;
        var messages = 0;
        long bytes = 0;
        var heartbeats = 0;
        SubscriptionEndReason? failure = null;
        lock (direct.Sync)
        {
            while (failure is null && subscription.Items.TryRead(out var delivery))
            {
                if (!delivery.IsMessage)
                {
                    subscription.Taken(delivery);
                    if (delivery.Kind == OutboundKind.Heartbeat)
                    {
                        failure = Failed(direct.WriteFrameLocked(delivery.Frame, counts: false));
                        heartbeats++;
                    }

                    continue;
                }

                failure = Failed(direct.WriteFrameLocked(delivery.Frame));
                delivery.Release();
                if (failure is null)
                {
                    messages++;
                    bytes += delivery.Length;
                    if (delivery.Published.IsPresent)
                    {
                        _published.Add(delivery.Published);
                    }
                }
            }
        }

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

        return failure;

        static SubscriptionEndReason? Failed(DirectWrite written) => written switch
        {
            DirectWrite.Full => SubscriptionEndReason.SlowReader,
            DirectWrite.Closed => SubscriptionEndReason.WriteFailed,
            _ => null,
        };
    }

    /// <summary>
    /// Gives the response back to Kestrel once the kernel has everything written straight to the socket; a connection
    /// where that cannot be (the client stopped reading, or it failed) is aborted rather than mixing the two.
    /// </summary>
    private async Task CloseDirectAsync()
    {
        if (Interlocked.Exchange(ref _direct, null) is { } direct && !await direct.CloseAsync())
        {
            _context.Abort();
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

    private void OnHeartbeatTick()
    {
        var wrote = Interlocked.Exchange(ref _wroteSinceTick, 0) != 0;
        var wroteDirectly = Volatile.Read(ref _direct)?.WroteSinceLastLook() ?? false;
        if (!wrote && !wroteDirectly)
        {
            _subscription.QueueHeartbeat();
        }
    }
}
