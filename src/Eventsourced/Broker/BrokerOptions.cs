using System.ComponentModel.DataAnnotations;
using Eventsourced.Configuration;
using Microsoft.Extensions.Configuration;

namespace Eventsourced.Broker;

/// <summary>The <c>broker</c> section: the RabbitMQ nodes and how the gateway reconnects to them.</summary>
public sealed class BrokerOptions
{
    /// <summary><c>broker.node</c>: AMQP URLs; the same URL may repeat (one connection per entry). A later source replaces the whole list.</summary>
    [ConfigurationKeyName("node")]
    [ValueRule<BrokerUrl>]
    [Masked(MaskKind.BrokerUrl)]
    public List<string> Node { get; set; } = ["amqp://guest:guest@localhost:5672/"];

    /// <summary><c>broker.reconnect_max</c>: upper bound, in seconds, of the reconnect backoff.</summary>
    [ConfigurationKeyName("reconnect_max")]
    [Range(1, 3600)]
    public int ReconnectMaxSeconds { get; set; } = 30;

    /// <summary>
    /// <c>broker.heartbeat</c>: the AMQP heartbeat interval requested, in seconds. A node that sends nothing for
    /// about three intervals (a stalled process, a cut network) is taken for lost: its streams end and its
    /// connections reconnect, without waiting for TCP to give up.
    /// </summary>
    [ConfigurationKeyName("heartbeat")]
    [Range(1, 3600)]
    public int HeartbeatSeconds { get; set; } = 10;

    /// <summary>
    /// <c>broker.subscribers_per_channel</c>: how many queue subscribers one AMQP channel carries. 1 gives each its own
    /// channel. More share a channel (each with its own consumer and prefetch), which saves memory per stream and,
    /// with thousands of streams, the garbage collector's work on the client library's per-channel objects.
    /// </summary>
    [ConfigurationKeyName("subscribers_per_channel")]
    [Range(1, 1024)]
    public int SubscribersPerChannel { get; set; } = 1;
}
