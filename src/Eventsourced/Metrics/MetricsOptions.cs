using Eventsourced.Configuration;
using Eventsourced.Http;
using Microsoft.Extensions.Configuration;

namespace Eventsourced.Metrics;

/// <summary>The <c>metrics</c> section (not in the original): where the Prometheus exposition and the expvar-style JSON are served.</summary>
public sealed class MetricsOptions
{
    /// <summary><c>metrics.path</c>: the Prometheus text exposition; empty switches it off.</summary>
    [ConfigurationKeyName("path")]
    [ValueRule<EndpointPath>]
    public string Path { get; set; } = "/metrics";

    /// <summary><c>metrics.debug_vars</c>: expvar-style JSON (the original's <c>/debug/vars</c>); empty switches it off.</summary>
    [ConfigurationKeyName("debug_vars")]
    [ValueRule<EndpointPath>]
    public string DebugVars { get; set; } = "/debug/vars";
}
