using System.ComponentModel.DataAnnotations;
using Eventsourced.Configuration;
using Eventsourced.Naming;
using Microsoft.Extensions.Configuration;

namespace Eventsourced.Consuming;

/// <summary>The <c>queue</c> section: which queue a request subscribes to and how it is declared and consumed.</summary>
public sealed class QueueOptions
{
    /// <summary>Upper bound of <c>queue.expires</c>: the broker's <c>x-expires</c> is milliseconds in a signed 32-bit field.</summary>
    public const int MaxExpiresSeconds = int.MaxValue / 1000;

    /// <summary><c>queue.pattern</c>: <c>${query:NAME}</c>, <c>${cookie:NAME}</c> and literal text; whitespace is ignored.</summary>
    [ConfigurationKeyName("pattern")]
    [ValueRule<QueuePattern>]
    public string Pattern { get; set; } = "${query:id}";

    /// <summary><c>queue.expires</c> (the original's <c>queue.expire</c> is accepted too): seconds without a consumer before the broker drops the queue; 0 never.</summary>
    [ConfigurationKeyName("expires")]
    [ConfigurationAlias("expire")]
    [Range(0, MaxExpiresSeconds)]
    public int ExpiresSeconds { get; set; } = 1800;

    /// <summary><c>queue.prefetch</c>: unacknowledged messages the broker may push to one subscription.</summary>
    [ConfigurationKeyName("prefetch")]
    [Range(1, 65535)]
    public int Prefetch { get; set; } = 64;

    /// <summary>
    /// <c>queue.bind</c>: <c>EXCHANGE:TYPE:ROUTING_KEY</c> entries (<see cref="QueueBinding"/>): exchanges declared and
    /// the client's queue bound to them at subscribe, so services publish to exchanges (a user's routing key, a broadcast).
    /// </summary>
    [ConfigurationKeyName("bind")]
    [ValueRule<QueueBinding>]
    [MayBeEmpty]
    public List<string> Bind { get; set; } = [];

    /// <summary>
    /// <c>queue.type</c>: <c>classic</c> (one node holds each queue) or <c>quorum</c> (replicated over the
    /// cluster's nodes by Raft; a subscriber's queue survives the loss of a minority of them).
    /// </summary>
    [ConfigurationKeyName("type")]
    [AllowedValues("classic", "quorum")]
    public string Type { get; set; } = "classic";

    /// <summary>
    /// <c>queue.busy_grace</c>: seconds a subscriber whose queue is held by another one keeps trying before it is
    /// answered 503, for a holder that is going away (an immediate reconnect meeting its own stream that is still
    /// ending); 0 answers at once.
    /// </summary>
    [ConfigurationKeyName("busy_grace")]
    [Range(0, 60)]
    public int BusyGraceSeconds { get; set; } = 2;

    /// <summary>Whether <see cref="Type"/> is <c>quorum</c> (in any case).</summary>
    public bool IsQuorum => string.Equals(Type, "quorum", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// <c>queue.adopt_existing</c>: consume a queue that exists with other arguments than the gateway declares (another
    /// <c>x-expires</c>, a queue type, a dead-letter exchange) as it is. Off: such a queue is refused (403), as the Go
    /// original's failing declare refused it, so that the gateway never drains another application's queue.
    /// </summary>
    [ConfigurationKeyName("adopt_existing")]
    public bool AdoptExisting { get; set; }

    /// <summary>
    /// <c>queue.max_message_bytes</c>: a message whose body is larger is rejected without requeue (to the queue's
    /// dead-letter exchange if it has one, else the broker drops it), counted and logged. 128 MiB is RabbitMQ's own maximum.
    /// </summary>
    [ConfigurationKeyName("max_message_bytes")]
    [Range(1024, 128 * 1024 * 1024)]
    public int MaxMessageBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// <c>queue.max_buffered_bytes</c>: message bytes one stream may have in flight (delivered by the broker, not yet
    /// acknowledged). The stream's prefetch is lowered to <c>max_buffered_bytes / max_message_bytes</c> when that is
    /// less than <c>queue.prefetch</c>.
    /// </summary>
    [ConfigurationKeyName("max_buffered_bytes")]
    [Range(64 * 1024, 1024 * 1024 * 1024)]
    public int MaxBufferedBytes { get; set; } = 64 * 1024 * 1024;
}
