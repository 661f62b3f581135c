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
    /// <c>queue.adopt_existing</c>: consume a queue that exists with other arguments than the gateway declares (another
    /// <c>x-expires</c>, a queue type, a dead-letter exchange) as it is. Off: such a queue is refused (403), as the Go
    /// original's failing declare refused it, so that the gateway never drains another application's queue.
    /// </summary>
    [ConfigurationKeyName("adopt_existing")]
    public bool AdoptExisting { get; set; }
}
