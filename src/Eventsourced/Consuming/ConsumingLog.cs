using Eventsourced.Logging;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Consuming;

internal static partial class ConsumingLog
{
    [LoggerMessage(EventIds.QueueArgumentsDiffer, LogLevel.Warning, "Queue {Queue} exists with other arguments than configured ({Detail}); consuming it as it is", EventName = "QueueArgumentsDiffer")]
    public static partial void QueueArgumentsDiffer(ILogger logger, string queue, string detail);

    [LoggerMessage(EventIds.ExchangeDiffers, LogLevel.Warning, "Exchange {Exchange} of queue.bind exists with another type or durability ({Detail}); binding to it as it is", EventName = "ExchangeDiffers")]
    public static partial void ExchangeDiffers(ILogger logger, string exchange, string detail);
}
