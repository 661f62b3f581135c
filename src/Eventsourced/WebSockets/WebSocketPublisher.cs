using Eventsourced.Broker;
using Eventsourced.Logging;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Eventsourced.WebSockets;

/// <summary>How a client's publish ended.</summary>
internal enum PublishResult
{
    /// <summary>The broker confirmed it: it is in every queue it was routed to.</summary>
    Confirmed,

    /// <summary>No queue is bound for its routing key: the broker returned it (mandatory).</summary>
    Unroutable,

    /// <summary>The broker refused it (a nack, a channel error such as a missing exchange), no confirm came in time, or no connection is up.</summary>
    Failed,

    /// <summary>The broker refuses publishes for now (a resource alarm, <c>connection.blocked</c>): not sent at all.</summary>
    Blocked,
}

/// <summary>
/// Publishes what WebSocket clients send, on one channel of the broker pool's publishing connection in confirm
/// mode with mandatory routing, shared by every connection: RabbitMQ.Client tracks each publish's confirm, so
/// many clients may wait for theirs at once. The channel is opened on first use and again after the broker closed
/// it (a publish to a missing exchange does). While the broker blocks that connection (a resource alarm) a publish
/// is refused at once, and a confirm is waited for at most <see cref="ConfirmTimeout"/>: the client's reader waits
/// for the answer, so it must come.
/// </summary>
internal sealed class WebSocketPublisher(BrokerPool pool, ILogger<WebSocketPublisher> logger) : IAsyncDisposable
{
    /// <summary>How long a publish waits for the broker's confirm (a quorum queue electing a leader takes a few seconds).</summary>
    internal static readonly TimeSpan ConfirmTimeout = TimeSpan.FromSeconds(15);

    private readonly SemaphoreSlim _open = new(1, 1);

    // A refusal repeats for every client's publish (a broker user without write on ws.publish_exchange): the first of
    // each exchange and reason is logged, then their count once per 10 s. Keys: exchange, NUL, detail.
    private readonly LogDigest _failures = new(
        LogDigest.RefusalInterval, pool.Time,
        key => WebSocketLog.PublishFailed(logger, ExchangeOf(key), DetailOf(key)),
        (key, count, over) => WebSocketLog.PublishFailedRepeated(logger, ExchangeOf(key), count, over.TotalSeconds, DetailOf(key)));

    private ChannelLease? _lease;

    public async Task<PublishResult> PublishAsync(string exchange, string routingKey, BasicProperties properties, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        ChannelLease lease;
        try
        {
            lease = await LeaseAsync(cancellationToken);
        }
        catch (BrokerBlockedException)
        {
            // The connection logged the block once; one line per refused publish would flood the log.
            return PublishResult.Blocked;
        }
        catch (BrokerUnavailableException)
        {
            // The pool logged it (event 206, then 207: publishes fail until a connection can take a channel); a 330 for
            // the same outage said it twice.
            return PublishResult.Failed;
        }

        if (lease.Slot.IsBlocked)
        {
            return PublishResult.Blocked;
        }

        // The broker tells a connection of an alarm only when it publishes during one: the publish that tells it waits
        // for its confirm until the block ends, so that wait ends when the block begins, and after ConfirmTimeout anyway.
        using var confirmWait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lease.Slot.BlockedToken);
        confirmWait.CancelAfter(ConfirmTimeout);
        try
        {
            await lease.Channel.BasicPublishAsync(exchange, routingKey, mandatory: true, properties, body, confirmWait.Token);
            return PublishResult.Confirmed;
        }
        catch (OperationCanceledException) when (confirmWait.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // Not confirmed, but the broker may still take it once the alarm clears (and confirm it to nobody).
            if (lease.Slot.IsBlocked)
            {
                return PublishResult.Blocked;
            }

            Failed(exchange, $"no confirm within {ConfirmTimeout.TotalSeconds:0} s");
            return PublishResult.Failed;
        }
        catch (PublishReturnException)
        {
            return PublishResult.Unroutable;
        }
        catch (PublishException ex)
        {
            Failed(exchange, ex.Message);
            return PublishResult.Failed;
        }
        catch (Exception ex) when (ex is OperationInterruptedException or AlreadyClosedException)
        {
            // The broker closed the channel (e.g. 404: the exchange does not exist); the next publish opens another.
            Failed(exchange, ex is OperationInterruptedException { ShutdownReason: { } r } ? $"{r.ReplyCode} {r.ReplyText}" : ex.Message);
            return PublishResult.Failed;
        }
    }

    /// <summary>The exchange of a failure's key as events 330 and 332 name it: the default exchange's empty name said, not left blank.</summary>
    internal static string ExchangeOf(string key) => key[..key.IndexOf('\0', StringComparison.Ordinal)] is { Length: > 0 } exchange ? exchange : "'' (the default exchange)";

    private static string DetailOf(string key) => key[(key.IndexOf('\0', StringComparison.Ordinal) + 1)..];

    private void Failed(string exchange, string detail) => _failures.Add($"{exchange}\0{detail}");

    public async ValueTask DisposeAsync()
    {
        _failures.Dispose();
        if (_lease is { } lease)
        {
            await lease.DisposeAsync();
        }

        _open.Dispose();
    }

    private async ValueTask<ChannelLease> LeaseAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _lease) is { Channel.IsOpen: true } open)
        {
            return open;
        }

        await _open.WaitAsync(cancellationToken);
        try
        {
            if (_lease is { Channel.IsOpen: true } current)
            {
                return current;
            }

            if (_lease is { } closed)
            {
                await closed.DisposeAsync();
                _lease = null;
            }

            var lease = await pool.LeasePublisherAsync(publisherConfirms: true, cancellationToken);
            Volatile.Write(ref _lease, lease);
            return lease;
        }
        finally
        {
            _open.Release();
        }
    }
}
