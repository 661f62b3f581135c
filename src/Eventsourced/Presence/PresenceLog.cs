using Eventsourced.Logging;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Presence;

internal static partial class PresenceLog
{
    [LoggerMessage(EventIds.PresencePublishFailed, LogLevel.Warning, "Cannot publish a presence event to exchange {Exchange}: {Reason}", EventName = "PresencePublishFailed")]
    public static partial void PublishFailed(ILogger logger, string exchange, string reason);

    [LoggerMessage(EventIds.PresencePublishFailedRepeated, LogLevel.Warning, "Cannot publish a presence event to exchange {Exchange} {Count} more times in the last {Seconds:0}s: {Reason}", EventName = "PresencePublishFailedRepeated")]
    public static partial void PublishFailedRepeated(ILogger logger, string exchange, int count, double seconds, string reason);

    [LoggerMessage(EventIds.PresenceExchangeDiffers, LogLevel.Warning, "Exchange {Exchange} exists with another type than topic ({Detail}); publishing to it as it is", EventName = "PresenceExchangeDiffers")]
    public static partial void ExchangeDiffers(ILogger logger, string exchange, string detail);

    [LoggerMessage(EventIds.PresenceDroppedWhileBlocked, LogLevel.Warning, "The broker refuses publishes for now ({Reason}): presence events to exchange {Exchange} are dropped until it takes them again", EventName = "PresenceDroppedWhileBlocked")]
    public static partial void DroppedWhileBlocked(ILogger logger, string exchange, string reason);
}
