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
}
