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
}
