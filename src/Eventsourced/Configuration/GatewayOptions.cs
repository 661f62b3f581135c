namespace Eventsourced.Configuration;

/// <summary>
/// The effective configuration of one gateway process: the YAML schema of the Go original
/// (<c>server</c>, <c>broker</c>, <c>queue</c>, <c>header</c>) plus the keys this gateway adds.
/// Every property has the documented default; <see cref="ConfigLoader"/> layers the sources over it.
/// </summary>
public sealed class GatewayOptions
{
    public ServerOptions Server { get; set; } = new();

    public BrokerOptions Broker { get; set; } = new();

    public QueueOptions Queue { get; set; } = new();

    public HeaderOptions Header { get; set; } = new();

    /// <summary><c>log</c>: minimum level and output format of the gateway's own log (not in the original).</summary>
    public LogOptions Log { get; set; } = new();

    /// <summary><c>metrics</c>: where the Prometheus exposition and the expvar-style JSON are served (not in the original).</summary>
    public MetricsOptions Metrics { get; set; } = new();

    /// <summary><c>health</c>: where the liveness and readiness probes are served (not in the original).</summary>
    public HealthOptions Health { get; set; } = new();
}

public sealed class MetricsOptions
{
    /// <summary><c>metrics.path</c>: the Prometheus text exposition; empty switches it off.</summary>
    public string Path { get; set; } = "/metrics";

    /// <summary><c>metrics.debug_vars</c>: expvar-style JSON (the original's <c>/debug/vars</c>); empty switches it off.</summary>
    public string DebugVars { get; set; } = "/debug/vars";
}

public sealed class HealthOptions
{
    /// <summary><c>health.live</c>: 200 while the process serves; empty switches it off.</summary>
    public string Live { get; set; } = "/healthz";

    /// <summary><c>health.ready</c>: 200 while a broker connection is up, else 503 with the reason; empty switches it off.</summary>
    public string Ready { get; set; } = "/readyz";
}

public sealed class ServerOptions
{
    /// <summary><c>server.address</c>: TCP listen address, <c>host:port</c>.</summary>
    public string Address { get; set; } = "0.0.0.0:2069";

    /// <summary>
    /// <c>server.path</c>: where the SSE stream is served. A path ending in <c>/</c> also serves
    /// every path below it (Go's ServeMux rule; the original served "/" and so every path).
    /// </summary>
    public string Path { get; set; } = "/";

    /// <summary><c>server.heartbeat</c>: seconds of silence after which a <c>:</c> comment is sent; 0 turns it off.</summary>
    public int HeartbeatSeconds { get; set; } = 15;

    /// <summary><c>server.shutdown_timeout</c>: seconds a SIGTERM/SIGINT may take to end streams and close connections.</summary>
    public int ShutdownTimeoutSeconds { get; set; } = 10;

    /// <summary><c>server.write_timeout</c>: seconds a single flush to a client may take before the stream is ended.</summary>
    public int WriteTimeoutSeconds { get; set; } = 30;
}

public sealed class BrokerOptions
{
    /// <summary><c>broker.node</c>: AMQP URLs; the same URL may repeat (one connection per entry).</summary>
    public List<string> Node { get; set; } = ["amqp://guest:guest@localhost:5672/"];

    /// <summary><c>broker.reconnect_max</c>: upper bound, in seconds, of the reconnect backoff.</summary>
    public int ReconnectMaxSeconds { get; set; } = 30;
}

public sealed class QueueOptions
{
    /// <summary><c>queue.pattern</c>: <c>${query:NAME}</c>, <c>${cookie:NAME}</c> and literal text; whitespace is ignored.</summary>
    public string Pattern { get; set; } = "${query:id}";

    /// <summary><c>queue.expires</c> (the original's <c>queue.expire</c> is accepted too): seconds without a consumer before the broker drops the queue; 0 never.</summary>
    public int ExpiresSeconds { get; set; } = 1800;

    /// <summary><c>queue.prefetch</c>: unacknowledged messages the broker may push to one stream.</summary>
    public int Prefetch { get; set; } = 64;
}

public sealed class HeaderOptions
{
    /// <summary><c>header.cors</c>: sent on every response of the stream endpoint (200, 204, 4xx, 5xx).</summary>
    public Dictionary<string, string> Cors { get; set; } = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Access-Control-Allow-Origin"] = "*",
        ["Access-Control-Allow-Methods"] = "GET, OPTIONS",
        ["Access-Control-Allow-Headers"] = "Content-Type, Accept, Cache-Control",
    };

    /// <summary><c>header.sse</c>: sent with the 200 that opens a stream.</summary>
    public Dictionary<string, string> Sse { get; set; } = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Content-Type"] = "text/event-stream; charset=utf-8",
        ["Cache-Control"] = "no-cache",
        ["Transfer-Encoding"] = "identity",
        ["X-Accel-Buffering"] = "no",
    };
}
