using Eventsourced.Configuration;
using Eventsourced.Http;
using Microsoft.Extensions.Configuration;

namespace Eventsourced.Health;

/// <summary>The <c>health</c> section (not in the original): where the liveness and readiness probes are served.</summary>
public sealed class HealthOptions
{
    /// <summary><c>health.live</c>: 200 while the process serves; empty switches it off.</summary>
    [ConfigurationKeyName("live")]
    [ValueRule<EndpointPath>]
    public string Live { get; set; } = "/healthz";

    /// <summary><c>health.ready</c>: 200 while a broker connection is up, else 503 with the reason; empty switches it off.</summary>
    [ConfigurationKeyName("ready")]
    [ValueRule<EndpointPath>]
    public string Ready { get; set; } = "/readyz";
}
