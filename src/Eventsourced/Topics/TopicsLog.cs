using Eventsourced.Consuming;
using Eventsourced.Logging;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Topics;

internal static partial class TopicsLog
{
    [LoggerMessage(EventIds.TopicOpened, LogLevel.Debug, "Topic {Topic} consumed from stream {Stream} on {Node}", EventName = "TopicOpened")]
    public static partial void FeedOpened(ILogger logger, string topic, string stream, string node);

    [LoggerMessage(EventIds.TopicClosed, LogLevel.Debug, "Topic {Topic} no longer consumed ({Reason})", EventName = "TopicClosed")]
    public static partial void FeedClosed(ILogger logger, string topic, SubscriptionEndReason reason);

    [LoggerMessage(EventIds.TopicEnded, LogLevel.Information, "Broker ended the consumer of topic {Topic} ({Reason}); its subscribers were ended", EventName = "TopicEnded")]
    public static partial void FeedEnded(ILogger logger, string topic, SubscriptionEndReason reason);

    [LoggerMessage(EventIds.TopicCreated, LogLevel.Information, "Created stream {Stream} for topic {Topic} (max age '{MaxAge}', max length '{MaxLength}')", EventName = "TopicCreated")]
    public static partial void StreamCreated(ILogger logger, string topic, string stream, string maxAge, string maxLength);

    [LoggerMessage(EventIds.TopicSlowSubscriber, LogLevel.Debug, "A subscriber of topic {Topic} was ended: more than {Buffer} events waited for it", EventName = "TopicSlowSubscriber")]
    public static partial void SlowSubscriberEnded(ILogger logger, string topic, int buffer);

    [LoggerMessage(EventIds.TopicNoReplicaOnNode, LogLevel.Debug, "Topic {Topic}: node {Node} holds no replica of its stream and refused the consume; trying another node", EventName = "TopicNoReplicaOnNode")]
    public static partial void NoReplicaOnNode(ILogger logger, string topic, string node);

    [LoggerMessage(EventIds.TopicEventTooLarge, LogLevel.Warning, "An event of {Bytes} bytes (id {Offset}) in topic {Topic} exceeds queue.max_message_bytes ({Max}): passed over, never sent to a subscriber (it stays in the stream)", EventName = "TopicEventTooLarge")]
    public static partial void EventTooLarge(ILogger logger, string topic, long offset, int bytes, int max);

    [LoggerMessage(EventIds.TopicRefusedDuringFailover, LogLevel.Debug, "Topic {Topic}: {Reason}; trying again for up to {Seconds:0.0} s more (a stream's leader failing over)", EventName = "TopicRefusedDuringFailover")]
    public static partial void RefusedDuringFailover(ILogger logger, string topic, string reason, double seconds);
}
