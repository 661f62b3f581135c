using Eventsourced.Broker;
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

    /// <summary>The broker refused it (a nack, a channel error such as a missing exchange) or no connection is up.</summary>
    Failed,
}

/// <summary>
/// Publishes what WebSocket clients send, on one channel of the broker pool in confirm mode with mandatory
/// routing, shared by every connection: RabbitMQ.Client tracks each publish's confirm, so many clients may
/// wait for theirs at once. The channel is opened on first use and again after the broker closed it (a
/// publish to a missing exchange does).
/// </summary>
internal sealed class WebSocketPublisher(BrokerPool pool, ILogger<WebSocketPublisher> logger) : IAsyncDisposable
{
    private readonly SemaphoreSlim _open = new(1, 1);
    private ChannelLease? _lease;

    public async Task<PublishResult> PublishAsync(string exchange, string routingKey, BasicProperties properties, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        IChannel channel;
        try
        {
            channel = await ChannelAsync(cancellationToken);
        }
        catch (BrokerUnavailableException ex)
        {
            WebSocketLog.PublishFailed(logger, exchange, ex.Message);
            return PublishResult.Failed;
        }

        try
        {
            await channel.BasicPublishAsync(exchange, routingKey, mandatory: true, properties, body, cancellationToken);
            return PublishResult.Confirmed;
        }
        catch (PublishReturnException)
        {
            return PublishResult.Unroutable;
        }
        catch (PublishException ex)
        {
            WebSocketLog.PublishFailed(logger, exchange, ex.Message);
            return PublishResult.Failed;
        }
        catch (Exception ex) when (ex is OperationInterruptedException or AlreadyClosedException)
        {
            // The broker closed the channel (e.g. 404: the exchange does not exist); the next publish opens another.
            WebSocketLog.PublishFailed(logger, exchange, ex is OperationInterruptedException { ShutdownReason: { } r } ? $"{r.ReplyCode} {r.ReplyText}" : ex.Message);
            return PublishResult.Failed;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_lease is { } lease)
        {
            await lease.DisposeAsync();
        }

        _open.Dispose();
    }

    private async ValueTask<IChannel> ChannelAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _lease) is { Channel.IsOpen: true } open)
        {
            return open.Channel;
        }

        await _open.WaitAsync(cancellationToken);
        try
        {
            if (_lease is { Channel.IsOpen: true } current)
            {
                return current.Channel;
            }

            if (_lease is { } closed)
            {
                await closed.DisposeAsync();
                _lease = null;
            }

            var lease = await pool.LeaseAsync(publisherConfirms: true, cancellationToken);
            Volatile.Write(ref _lease, lease);
            return lease.Channel;
        }
        finally
        {
            _open.Release();
        }
    }
}
