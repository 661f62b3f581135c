using Eventsourced.Authentication;
using Eventsourced.Broker;
using Eventsourced.Consuming;
using Eventsourced.Health;
using Eventsourced.Hosting;
using Eventsourced.Http;
using Eventsourced.LongPolling;
using Eventsourced.Limits;
using Eventsourced.Metrics;
using Eventsourced.Presence;
using Eventsourced.Sse;
using Eventsourced.Topics;
using Eventsourced.WebSockets;
using Microsoft.Extensions.Configuration;

namespace Eventsourced.Configuration;

/// <summary>
/// Every section of the configuration at once: the YAML schema of the Go original (<c>server</c>,
/// <c>broker</c>, <c>queue</c>, <c>header</c>) plus the sections this gateway adds. The gateway's services
/// never take this whole: each takes its own section's options (<c>IOptions&lt;QueueOptions&gt;</c>). It is
/// what <see cref="ConfigLoader"/> loads and <see cref="ConfigPrinter"/> prints, and a convenient way to
/// configure a gateway in code (<see cref="ConfigFlattener"/> turns it back into configuration keys).
/// <see cref="ConfigSchema"/> reads the sections and keys off these properties.
/// </summary>
public sealed class GatewayOptions
{
    [ConfigurationKeyName("server")]
    public ServerOptions Server { get; set; } = new();

    [ConfigurationKeyName("broker")]
    public BrokerOptions Broker { get; set; } = new();

    [ConfigurationKeyName("queue")]
    public QueueOptions Queue { get; set; } = new();

    [ConfigurationKeyName("topics")]
    public TopicOptions Topics { get; set; } = new();

    [ConfigurationKeyName("header")]
    public HeaderOptions Header { get; set; } = new();

    [ConfigurationKeyName("auth")]
    public AuthOptions Auth { get; set; } = new();

    [ConfigurationKeyName("sse")]
    public SseOptions Sse { get; set; } = new();

    [ConfigurationKeyName("ws")]
    public WebSocketTransportOptions Ws { get; set; } = new();

    [ConfigurationKeyName("poll")]
    public LongPollingOptions Poll { get; set; } = new();

    [ConfigurationKeyName("events")]
    public PresenceOptions Events { get; set; } = new();

    [ConfigurationKeyName("log")]
    public LogOptions Log { get; set; } = new();

    [ConfigurationKeyName("metrics")]
    public MetricsOptions Metrics { get; set; } = new();

    [ConfigurationKeyName("health")]
    public HealthOptions Health { get; set; } = new();

    [ConfigurationKeyName("limits")]
    public LimitsOptions Limits { get; set; } = new();
}
