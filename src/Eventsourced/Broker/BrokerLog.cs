using Eventsourced.Logging;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Broker;

internal static partial class BrokerLog
{
    [LoggerMessage(EventIds.BrokerConnected, LogLevel.Information, "Connected to broker {Node} as \"{ConnectionName}\" (channel_max {ChannelMax})", EventName = "BrokerConnected")]
    public static partial void Connected(ILogger logger, string node, string connectionName, int channelMax);

    [LoggerMessage(EventIds.BrokerConnectFailed, LogLevel.Warning, "Cannot connect to broker {Node} as \"{ConnectionName}\": {Reason}; retrying in {DelaySeconds:0.0}s", EventName = "BrokerConnectFailed")]
    public static partial void ConnectFailed(ILogger logger, string node, string connectionName, string reason, double delaySeconds);

    [LoggerMessage(EventIds.BrokerConnectionLost, LogLevel.Warning, "Lost connection \"{ConnectionName}\" to broker {Node}: {Reason}", EventName = "BrokerConnectionLost")]
    public static partial void ConnectionLost(ILogger logger, string node, string connectionName, string reason);

    [LoggerMessage(EventIds.BrokerConnectionClosed, LogLevel.Information, "Closed connection \"{ConnectionName}\" to broker {Node}", EventName = "BrokerConnectionClosed")]
    public static partial void ConnectionClosed(ILogger logger, string node, string connectionName);

    [LoggerMessage(EventIds.BrokerPoolGrown, LogLevel.Information, "All broker connections are at channel_max; opened connection #{Slot} to {Node} ({Connections} connections now)", EventName = "BrokerPoolGrown")]
    public static partial void PoolGrown(ILogger logger, int slot, string node, int connections);

    [LoggerMessage(EventIds.BrokerChannelCloseFailed, LogLevel.Debug, "Closing a channel on {Node} failed: {Reason}", EventName = "BrokerChannelCloseFailed")]
    public static partial void ChannelCloseFailed(ILogger logger, string node, string reason);

    [LoggerMessage(EventIds.BrokerNotAnsweringCloses, LogLevel.Warning, "Broker {Node} has answered no channel.close on connection \"{ConnectionName}\" for {Seconds:0}s (a frozen node, or a cut network that heartbeats have not noticed yet?): each close is waited for up to {LimitSeconds:0}s and then given up on, and a shutdown waits that long", EventName = "BrokerNotAnsweringCloses")]
    public static partial void NotAnsweringCloses(ILogger logger, string node, string connectionName, double seconds, double limitSeconds);

    [LoggerMessage(EventIds.BrokerGaveUpClosing, LogLevel.Warning, "Gave up closing connection \"{ConnectionName}\" to broker {Node} at shutdown: {Reason}; {Channels} channel(s) on it were not closed cleanly. The broker requeues what their streams had not acknowledged when it drops the connection: as soon as it reads the connection's end, or once it misses the gateway's heartbeats (broker.heartbeat)", EventName = "BrokerGaveUpClosing")]
    public static partial void GaveUpClosing(ILogger logger, string node, string connectionName, string reason, int channels);

    [LoggerMessage(EventIds.BrokerPoolExhausted, LogLevel.Warning, "No broker connection can take a channel: {Reason}; {Consequence} until one can (events 201 and 202 say what became of each broker.node, /readyz lists them)", EventName = "BrokerPoolExhausted")]
    public static partial void PoolExhausted(ILogger logger, string reason, string consequence);

    [LoggerMessage(EventIds.BrokerPoolExhaustedRepeated, LogLevel.Warning, "No broker connection could take a channel {Count} more times in the last {Seconds:0}s: {Reason}", EventName = "BrokerPoolExhaustedRepeated")]
    public static partial void PoolExhaustedRepeated(ILogger logger, int count, double seconds, string reason);

    [LoggerMessage(EventIds.BrokerConnectionBlocked, LogLevel.Warning, "Broker {Node} refuses publishes on connection \"{ConnectionName}\" for now: {Reason}", EventName = "BrokerConnectionBlocked")]
    public static partial void ConnectionBlocked(ILogger logger, string node, string connectionName, string reason);

    [LoggerMessage(EventIds.BrokerConnectionUnblocked, LogLevel.Information, "Broker {Node} takes publishes on connection \"{ConnectionName}\" again", EventName = "BrokerConnectionUnblocked")]
    public static partial void ConnectionUnblocked(ILogger logger, string node, string connectionName);
}
