using Eventsourced.Configuration;
using Eventsourced.Hosting;
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

    /// <summary>
    /// <c>metrics.address</c>: a listener of their own (<c>host:port</c>, e.g. <c>127.0.0.1:9069</c>) for <c>metrics.path</c> and
    /// <c>metrics.debug_vars</c>, which then answer nowhere else; empty: the stream's listener. The gateway's program only.
    /// </summary>
    [ConfigurationKeyName("address")]
    [ValueRule<OptionalListenAddress>]
    public string Address { get; set; } = "";

    /// <summary>
    /// <c>metrics.token</c>: when set, <c>metrics.path</c> and <c>metrics.debug_vars</c> answer only requests with
    /// <c>Authorization: Bearer TOKEN</c> (else 401). Masked by <c>eventsourced -c</c>.
    /// </summary>
    [ConfigurationKeyName("token")]
    [Masked]
    [ValueRule<HeaderValue>]
    public string Token { get; set; } = "";
}
