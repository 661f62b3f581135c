using System.Buffers;
using System.IO.Pipelines;
using Eventsourced.Metrics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Eventsourced.Streaming;

/// <summary>
/// Writes one subscription to one response. The single writer of the response: it drains whatever
/// deliveries are ready into one write and one flush, then acknowledges them all with one multiple-ack.
/// A delivery is acked only after its bytes were flushed to the client; what is still buffered when the
/// stream ends is never acked and so goes back to the queue.
/// </summary>
internal sealed class SseSession
{
    private const int MaxBatchBytes = 64 * 1024;

    private readonly HttpContext _context;
    private readonly Subscription _subscription;
    private readonly StreamSettings _settings;
    private readonly GatewayMetrics _metrics;
    private readonly List<MessageTimestamp> _published = [];
    private int _wroteSinceTick;

    public SseSession(HttpContext context, Subscription subscription, StreamSettings settings, GatewayMetrics metrics)
    {
        _context = context;
        _subscription = subscription;
        _settings = settings;
        _metrics = metrics;
    }

    public long MessagesWritten { get; private set; }

    /// <summary>Streams until the client leaves, the consumer ends, the write times out, or the token fires.</summary>
    public async Task<StreamEndReason> RunAsync(CancellationToken cancellationToken)
    {
        var response = _context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        SseResponseHeaders.Apply(response, _settings.Headers.Sse);
        _context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        var writer = response.BodyWriter;
        var consumer = _subscription.Consumer;
        using var heartbeat = _settings.Heartbeat is { } interval
            ? _settings.Time.CreateTimer(static s => ((SseSession)s!).OnHeartbeatTick(), this, interval, interval)
            : null;
        try
        {
            writer.Write(SseFraming.Opening);
            if (!await FlushAsync(writer, cancellationToken))
            {
                return StreamEndReason.ClientGone;
            }

            while (await consumer.Reader.WaitToReadAsync(cancellationToken))
            {
                if (consumer.EndReason is { } ended)
                {
                    return ended;
                }

                ulong lastTag = 0;
                var messages = 0;
                long bytes = 0;
                while (bytes < MaxBatchBytes && consumer.Reader.TryRead(out var delivery))
                {
                    writer.Write(delivery.Frame);
                    if (delivery.IsHeartbeat)
                    {
                        _metrics.Heartbeat();
                        continue;
                    }

                    lastTag = delivery.Tag;
                    messages++;
                    bytes += delivery.Frame.Length;
                    if (delivery.Published.IsPresent)
                    {
                        _published.Add(delivery.Published);
                    }
                }

                if (!await FlushAsync(writer, cancellationToken))
                {
                    return StreamEndReason.ClientGone;
                }

                RecordLatencies();

                if (lastTag != 0)
                {
                    Volatile.Write(ref _wroteSinceTick, 1);
                    await _subscription.AckThroughAsync(lastTag, cancellationToken);
                    MessagesWritten += messages;
                    _metrics.Delivered(messages, bytes);
                }
            }

            return consumer.EndReason ?? StreamEndReason.ChannelClosed;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return _settings.Stopping.IsCancellationRequested ? StreamEndReason.Shutdown : StreamEndReason.ClientGone;
        }
        catch (TimeoutException)
        {
            _context.Abort();
            return StreamEndReason.WriteTimeout;
        }
        catch (Exception ex) when (ex is RabbitMQ.Client.Exceptions.AlreadyClosedException or RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            return consumer.EndReason ?? StreamEndReason.ChannelClosed;
        }
        catch (Exception ex) when (ex is IOException or Microsoft.AspNetCore.Connections.ConnectionAbortedException or ObjectDisposedException)
        {
            return StreamEndReason.WriteFailed;
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
        if (Interlocked.Exchange(ref _wroteSinceTick, 0) == 0)
        {
            _subscription.Consumer.TryQueueHeartbeat();
        }
    }
}
