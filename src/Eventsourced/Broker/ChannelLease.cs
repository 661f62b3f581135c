using Eventsourced.Metrics;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace Eventsourced.Broker;

/// <summary>
/// A channel held by one subscriber (or one of the gateway's publishers). Disposing it closes the channel (the broker
/// requeues whatever was delivered and not acknowledged) and gives the slot back to its connection, exactly once.
/// Only a subscriber's channel counts in <c>eventsourced_broker_channels</c> (and as a consumer in <c>/debug/vars</c>).
/// </summary>
internal sealed class ChannelLease : IAsyncDisposable
{
    private readonly ConnectionSlot _slot;
    private readonly GatewayMetrics _metrics;
    private readonly ILogger _logger;
    private readonly bool _subscriber;
    private int _disposed;

    /// <param name="subscriber">False for a publisher's channel, which is no stream's: not counted with the subscribers' channels.</param>
    public ChannelLease(ConnectionSlot slot, IChannel channel, GatewayMetrics metrics, ILogger logger, bool subscriber = true)
    {
        _slot = slot;
        Channel = channel;
        _metrics = metrics;
        _logger = logger;
        _subscriber = subscriber;
        if (subscriber)
        {
            _metrics.ChannelLeased(slot.Node);
        }
    }

    public IChannel Channel { get; private set; }

    public string Node => _slot.Node;

    /// <summary>The connection the channel is on.</summary>
    public ConnectionSlot Slot => _slot;

    /// <summary>Whether the connection the channel belongs to is still open.</summary>
    public bool ConnectionOpen => _slot.IsUp;

    /// <summary>After a channel error (the channel is dead), a fresh channel on the same connection.</summary>
    public async Task<IChannel> ReopenAsync(CancellationToken cancellationToken)
    {
        await CloseQuietlyAsync(Channel);
        Channel = await _slot.CreateChannelAsync(cancellationToken);
        return Channel;
    }

    /// <summary>
    /// Closes the channel but keeps its slot of the connection reserved, for the caller to use for another channel
    /// (and release); false if the lease was disposed already.
    /// </summary>
    public async Task<bool> HandOverReservationAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return false;
        }

        await CloseQuietlyAsync(Channel);
        Released();
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            await CloseQuietlyAsync(Channel);
        }
        finally
        {
            _slot.Release();
            Released();
        }
    }

    private void Released()
    {
        if (_subscriber)
        {
            _metrics.ChannelReleased(_slot.Node);
        }
    }

    private Task CloseQuietlyAsync(IChannel channel) => _slot.CloseChannelQuietlyAsync(channel, "subscriber left");
}
