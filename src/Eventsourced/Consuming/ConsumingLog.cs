using Eventsourced.Logging;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Consuming;

internal static partial class ConsumingLog
{
    [LoggerMessage(EventIds.QueueArgumentsDiffer, LogLevel.Warning, "Queue {Queue} exists with other arguments than configured ({Detail}); consuming it as it is", EventName = "QueueArgumentsDiffer")]
    public static partial void QueueArgumentsDiffer(ILogger logger, string queue, string detail);

    [LoggerMessage(EventIds.ExchangeDiffers, LogLevel.Warning, "Exchange {Exchange} of queue.bind exists with another type or durability ({Detail}); binding to it as it is", EventName = "ExchangeDiffers")]
    public static partial void ExchangeDiffers(ILogger logger, string exchange, string detail);

    [LoggerMessage(EventIds.MessageTooLarge, LogLevel.Warning, "A message of {Bytes} bytes in queue {Queue} exceeds queue.max_message_bytes ({Max}): rejected without requeue (to the queue's dead-letter exchange if it has one, else dropped by the broker)", EventName = "MessageTooLarge")]
    public static partial void MessageTooLarge(ILogger logger, string queue, int bytes, int max);

    [LoggerMessage(EventIds.SharedChannelLeaveFailed, LogLevel.Warning, "Subscriber of queue {Queue} left its shared channel on {Node} uncleanly ({Detail}); {Consequence}", EventName = "SharedChannelLeaveFailed")]
    public static partial void SharedChannelLeaveFailed(ILogger logger, string queue, string node, string detail, string consequence);
}
