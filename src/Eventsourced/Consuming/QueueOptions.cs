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
}
