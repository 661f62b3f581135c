using System.ComponentModel.DataAnnotations;
using Eventsourced.Configuration;
using Eventsourced.Http;
using Microsoft.Extensions.Configuration;

namespace Eventsourced.Hosting;

/// <summary>The <c>server</c> section: where the gateway listens and how its subscriptions are paced.</summary>
public sealed class ServerOptions
{
    /// <summary><c>server.address</c>: TCP listen address, <c>host:port</c>.</summary>
    [ConfigurationKeyName("address")]
    [ValueRule<ListenAddress>]
    public string Address { get; set; } = "0.0.0.0:2069";

    /// <summary>
    /// <c>server.path</c>: where the SSE stream is served. A path ending in <c>/</c> also serves
    /// every path below it (Go's ServeMux rule; the original served "/" and so every path).
    /// </summary>
    [ConfigurationKeyName("path")]
    [ValueRule<UrlPath>]
    public string Path { get; set; } = "/";

    /// <summary><c>server.heartbeat</c>: seconds of silence after which a <c>:</c> comment is sent; 0 turns it off.</summary>
    [ConfigurationKeyName("heartbeat")]
    [Range(0, 3600)]
    public int HeartbeatSeconds { get; set; } = 15;

    /// <summary>
    /// <c>server.shutdown_timeout</c>: seconds a SIGTERM/SIGINT may take to end streams and close connections. At least 1:
    /// 0 was taken, yet no stop can take no time (closing the broker connections alone took seconds), and it cut every
    /// stream without its end event.
    /// </summary>
    [ConfigurationKeyName("shutdown_timeout")]
    [Range(1, 3600)]
    public int ShutdownTimeoutSeconds { get; set; } = 10;

    /// <summary>
    /// <c>server.drain_delay</c>: seconds between SIGTERM/SIGINT and the end of the streams, with <c>/readyz</c> answering
    /// 503 and everything else served as before, so that a balancer takes the instance out of rotation first; 0: none.
    /// </summary>
    [ConfigurationKeyName("drain_delay")]
    [Range(0, 300)]
    public int DrainDelaySeconds { get; set; }

    /// <summary><c>server.write_timeout</c>: seconds a single flush to a client may take before the stream is ended.</summary>
    [ConfigurationKeyName("write_timeout")]
    [Range(1, 3600)]
    public int WriteTimeoutSeconds { get; set; } = 30;

    /// <summary>
    /// <c>server.hosts</c>: the host names subscriptions are answered for (the request's <c>Host</c>, port aside;
    /// <c>*.example.com</c> for every name below it); empty or <c>*</c>: any. A page whose own name resolves to this
    /// gateway's address (DNS rebinding) is otherwise a page of the gateway's own origin to it.
    /// </summary>
    [ConfigurationKeyName("hosts")]
    [ValueRule<HostNamePattern>]
    [MayBeEmpty]
    public List<string> Hosts { get; set; } = [];

    /// <summary>
    /// <c>server.tls</c>: <c>certificate</c> and <c>key</c>, PEM files. With both, <c>server.address</c> serves HTTPS
    /// with HTTP/2 (ALPN) and HTTP/1.1, and the certificate is reloaded when the files change; empty: plain HTTP/1.1.
    /// </summary>
    [ConfigurationKeyName("tls")]
    [MapRules<TlsEntry, TlsPath>(Entry = "entry", Names = [TlsEntry.Certificate, TlsEntry.Key])]
    public Dictionary<string, string> Tls { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}
