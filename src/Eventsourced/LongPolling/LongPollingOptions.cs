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
}
