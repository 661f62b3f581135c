using System.ComponentModel.DataAnnotations;
using Eventsourced.Configuration;
using Eventsourced.Http;
using Microsoft.Extensions.Configuration;

namespace Eventsourced.LongPolling;

/// <summary>
/// The <c>poll</c> section: long-polling, for clients and networks where a held-open stream fails. A poll
/// answers a JSON array of messages; each batch is acknowledged when the next poll names its last id.
/// </summary>
public sealed class LongPollingOptions
{
    /// <summary><c>poll.path</c>: where polls are answered; empty switches the endpoint off.</summary>
    [ConfigurationKeyName("path")]
    [ValueRule<EndpointPath>]
    public string Path { get; set; } = "/poll";

    /// <summary><c>poll.wait</c>: seconds a poll waits for a first message before it answers an empty array.</summary>
    [ConfigurationKeyName("wait")]
    [Range(0, 3600)]
    public int WaitSeconds { get; set; } = 25;

    /// <summary><c>poll.max_messages</c>: messages one poll answers at most (no more than <c>queue.prefetch</c> are ever waiting).</summary>
    [ConfigurationKeyName("max_messages")]
    [Range(1, 65535)]
    public int MaxMessages { get; set; } = 100;

    /// <summary>
    /// <c>poll.hold</c>: seconds the subscription, with its unacknowledged batch, waits for the next poll
    /// after an answer; then the batch goes back to the queue and the queue is free for other subscribers.
    /// </summary>
    [ConfigurationKeyName("hold")]
    [Range(1, 3600)]
    public int HoldSeconds { get; set; } = 30;

    /// <summary>
    /// <c>poll.ack_timeout</c>: seconds an answer may stay unacknowledged while polls keep coming without its last id
    /// (or keep leaving before they are answered). The poll that finds it older is answered as usual, and then the
    /// subscription ends, as after <c>poll.hold</c>: the broker requeues what it held, and the next poll gets it again
    /// with new ids. RabbitMQ closes a channel that holds a delivery unacknowledged for its <c>consumer_timeout</c>
    /// (30 minutes by default), which with <c>broker.subscribers_per_channel</c> above 1 ends every stream on it.
    /// </summary>
    [ConfigurationKeyName("ack_timeout")]
    [Range(1, 86400)]
    public int AckTimeoutSeconds { get; set; } = 300;
}
