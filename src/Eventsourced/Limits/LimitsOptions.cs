using System.ComponentModel.DataAnnotations;
using Eventsourced.Configuration;
using Microsoft.Extensions.Configuration;

namespace Eventsourced.Limits;

/// <summary>
/// The <c>limits</c> section: what one client address may take (streams, subscribe attempts), which proxies may say
/// who the client is, and the HTTP server's limits on connections and request heads.
/// </summary>
public sealed class LimitsOptions
{
    /// <summary><c>limits.streams_per_client</c>: open streams per client address; 0: no limit.</summary>
    [ConfigurationKeyName("streams_per_client")]
    [Range(0, 1_000_000)]
    public int StreamsPerClient { get; set; }

    /// <summary><c>limits.subscribes_per_second</c>: subscribe attempts per client address and second (a token bucket of one second's worth); 0: no limit.</summary>
    [ConfigurationKeyName("subscribes_per_second")]
    [Range(0, 1_000_000)]
    public int SubscribesPerSecond { get; set; }

    /// <summary>
    /// <c>limits.trusted_proxies</c>: addresses (<c>10.0.0.5</c>) and networks (<c>10.0.0.0/8</c>) of proxies whose
    /// <c>X-Forwarded-For</c> names the client and <c>X-Forwarded-Proto</c> the browser's scheme (<see cref="ProxyAddress.ForwardedHeaders"/>);
    /// empty: the connection's address and scheme are the client's.
    /// </summary>
    [ConfigurationKeyName("trusted_proxies")]
    [ValueRule<ProxyAddress>]
    [MayBeEmpty]
    public List<string> TrustedProxies { get; set; } = ["127.0.0.1", "::1"];

    /// <summary>
    /// <c>limits.ipv6_prefix</c>: the leading bits of an IPv6 address that make one client for the per-client limits
    /// (<see cref="ClientAddress"/>; 16-128). 64 by default: a network's subscriber, or a mobile device, gets a /64; but
    /// ISPs commonly give a home or an office a /56 or a /48 (RFC 6177), every /64 of which counted as a client of its
    /// own: 256 or 65,536 times each limit for one subscriber. IPv4 addresses count whole.
    /// </summary>
    [ConfigurationKeyName("ipv6_prefix")]
    [Range(16, 128)]
    public int Ipv6Prefix { get; set; } = ClientAddress.DefaultIpv6Prefix;

    /// <summary>
    /// <c>limits.max_memory_percent</c>: new subscriptions are refused (503) while the managed heap, as the last
    /// collection left it, takes more than this percent of the memory the runtime may use (a container's limit,
    /// <c>DOTNET_GCHeapHardLimit</c>, else the machine's); 0: never (<see cref="MemoryAdmission"/>). 60 leaves room
    /// for the open streams to end together: each one ending takes a 4 KB read buffer from Kestrel's pinned pool and
    /// allocates its own ending, and with 6,500 streams refused at 75% and ending at once on a busy machine the heap
    /// ran out (<c>OutOfMemoryException</c> in Kestrel and in the broker connections); refused at 60%, it peaked at 74%.
    /// </summary>
    [ConfigurationKeyName("max_memory_percent")]
    [Range(0, 100)]
    public int MaxMemoryPercent { get; set; } = 60;

    /// <summary><c>limits.max_connections</c>: open client connections; 0: derived from the open-file limit (<see cref="ConnectionCap"/>).</summary>
    [ConfigurationKeyName("max_connections")]
    [Range(0, 10_000_000)]
    public int MaxConnections { get; set; }

    /// <summary>
    /// <c>limits.connections_per_client</c>: client connections one address (IPv4, or IPv6 network of <c>limits.ipv6_prefix</c>) holds at once on
    /// <c>server.address</c>, those of <c>limits.trusted_proxies</c> not counted; more are closed as they come
    /// (<see cref="ClientConnections"/>). 0: no limit.
    /// </summary>
    [ConfigurationKeyName("connections_per_client")]
    [Range(0, 10_000_000)]
    public int ConnectionsPerClient { get; set; }

    /// <summary>
    /// <c>limits.max_subscriptions</c>: subscriptions open at once on this gateway (streams, WebSockets, long-poll
    /// subscriptions also while held between polls; queues and topics); over it: 503. 0: no limit.
    /// </summary>
    [ConfigurationKeyName("max_subscriptions")]
    [Range(0, 10_000_000)]
    public int MaxSubscriptions { get; set; }

    /// <summary><c>limits.max_request_line_bytes</c>: longest request line (method, target, version); longer: 414.</summary>
    [ConfigurationKeyName("max_request_line_bytes")]
    [Range(256, 1024 * 1024)]
    public int MaxRequestLineBytes { get; set; } = 8 * 1024;

    /// <summary><c>limits.max_request_header_bytes</c>: all request headers together; more: 431.</summary>
    [ConfigurationKeyName("max_request_header_bytes")]
    [Range(1024, 1024 * 1024)]
    public int MaxRequestHeaderBytes { get; set; } = 32 * 1024;

    /// <summary><c>limits.max_request_headers</c>: number of request headers; more: 431.</summary>
    [ConfigurationKeyName("max_request_headers")]
    [Range(1, 10_000)]
    public int MaxRequestHeaders { get; set; } = 100;

    /// <summary><c>limits.request_headers_timeout</c>: seconds a client may take to send its request head; slower: 408 and closed.</summary>
    [ConfigurationKeyName("request_headers_timeout")]
    [Range(1, 3600)]
    public int RequestHeadersTimeoutSeconds { get; set; } = 10;
}
