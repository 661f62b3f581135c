using Eventsourced.Logging;
using Microsoft.Extensions.Logging;

namespace Eventsourced.WebSockets;

internal static partial class WebSocketLog
{
    [LoggerMessage(EventIds.ClientPublishFailed, LogLevel.Warning, "A client's publish to exchange {Exchange} failed: {Detail}", EventName = "ClientPublishFailed")]
    public static partial void PublishFailed(ILogger logger, string exchange, string detail);

    [LoggerMessage(EventIds.ClientPublishFailedRepeated, LogLevel.Warning, "A client's publish to exchange {Exchange} failed {Count} more times in the last {Seconds:0}s: {Detail}", EventName = "ClientPublishFailedRepeated")]
    public static partial void PublishFailedRepeated(ILogger logger, string exchange, int count, double seconds, string detail);

    [LoggerMessage(EventIds.WebSocketClosed, LogLevel.Debug, "WebSocket for queue {Queue} closed with {Status}: {Description}", EventName = "WebSocketClosed")]
    public static partial void Closed(ILogger logger, string queue, System.Net.WebSockets.WebSocketCloseStatus status, string description);
}
