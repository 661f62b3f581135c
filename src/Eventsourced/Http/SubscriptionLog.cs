using Eventsourced.Consuming;
using Eventsourced.Logging;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Http;

internal static partial class SubscriptionLog
{
    [LoggerMessage(EventIds.StreamOpened, LogLevel.Debug, "Stream opened for {Kind} {Name} on {Node}", EventName = "StreamOpened")]
    public static partial void Opened(ILogger logger, string kind, string name, string node);

    [LoggerMessage(EventIds.StreamClosed, LogLevel.Debug, "Stream closed for {Kind} {Name}: {Reason} after {Seconds:0.0}s, {Messages} messages", EventName = "StreamClosed")]
    public static partial void Closed(ILogger logger, string kind, string name, SubscriptionEndReason reason, double seconds, long messages);

    [LoggerMessage(EventIds.StreamRejected, LogLevel.Debug, "Request {Method} {Path} answered {Status}: {Reason}", EventName = "StreamRejected")]
    public static partial void Rejected(ILogger logger, string method, string path, int status, string reason);

    [LoggerMessage(EventIds.StreamFailed, LogLevel.Error, "Stream for {Kind} {Name} failed", EventName = "StreamFailed")]
    public static partial void Failed(ILogger logger, string kind, string name, Exception exception);

    [LoggerMessage(EventIds.ConsumerCancelled, LogLevel.Information, "Broker ended the consumer of {Kind} {Name} ({Reason})", EventName = "ConsumerCancelled")]
    public static partial void ConsumerEnded(ILogger logger, string kind, string name, SubscriptionEndReason reason);

    // {Queue} is the name asked for, a queue's or a topic's (field name kept for log queries); {Kind} says which.
    [LoggerMessage(EventIds.BrokerRefusedSubscription, LogLevel.Warning, "Subscription to {Kind} {Queue} refused: {Detail}", EventName = "BrokerRefusedSubscription")]
    public static partial void BrokerRefused(ILogger logger, string kind, string queue, string detail);

    [LoggerMessage(EventIds.SubscriptionsRefusedForMemory, LogLevel.Warning, "New subscriptions refused (503) for want of memory: {Detail}; open streams go on", EventName = "SubscriptionsRefusedForMemory")]
    public static partial void MemoryFull(ILogger logger, string detail);

    [LoggerMessage(EventIds.SubscriptionsRefusedForMemoryRepeated, LogLevel.Warning, "New subscriptions refused for want of memory {Count} more times in the last {Seconds:0}s: {Detail}", EventName = "SubscriptionsRefusedForMemoryRepeated")]
    public static partial void MemoryFullRepeated(ILogger logger, int count, double seconds, string detail);

    [LoggerMessage(EventIds.SubscriptionsRefusedAtCap, LogLevel.Warning, "New subscriptions refused (503): {Open} open, limits.max_subscriptions is {Max}; open subscriptions go on", EventName = "SubscriptionsRefusedAtCap")]
    public static partial void AtCap(ILogger logger, long open, int max);

    [LoggerMessage(EventIds.SubscriptionsRefusedAtCapRepeated, LogLevel.Warning, "New subscriptions refused at limits.max_subscriptions ({Max}) {Count} more times in the last {Seconds:0}s", EventName = "SubscriptionsRefusedAtCapRepeated")]
    public static partial void AtCapRepeated(ILogger logger, int max, int count, double seconds);

    [LoggerMessage(EventIds.BrokerRefusedSubscriptionRepeated, LogLevel.Warning, "Subscription to {Kind} {Queue} refused {Count} more times in the last {Seconds:0}s: {Detail}", EventName = "BrokerRefusedSubscriptionRepeated")]
    public static partial void BrokerRefusedRepeated(ILogger logger, string kind, int count, string queue, double seconds, string detail);
}
