using System.Net;
using System.Net.Sockets;

namespace Eventsourced.Limits;

/// <summary>
/// <c>limits.connections_per_client</c>: connections one client address (an IPv4 address, an IPv6 network as
/// <see cref="ClientAddress"/> groups them) holds at once on <c>server.address</c>. Without it one address could hold
/// every place of <c>limits.max_connections</c> with connections that each send a cheap request just inside
/// <c>limits.request_headers_timeout</c>, and every other client was closed at the cap. Counted where connections are
/// accepted (<see cref="GatedListenerFactory"/>), before anything is read, so from the connection's own address:
/// a proxy of <c>limits.trusted_proxies</c> carries many clients' connections and is not counted (its clients count
/// per request, by the address it forwards, in <c>limits.streams_per_client</c>). Kestrel has no per-address
/// connection limit, and ASP.NET Core's rate limiter partitions requests, not connections, hence this count.
/// </summary>
internal sealed class ClientConnections
{
    private readonly int _limit;
    private readonly int _ipv6Prefix;
    private readonly Microsoft.AspNetCore.Builder.ForwardedHeadersOptions _trusted;
    private readonly Action _rejected;
    private readonly CountPerKey<UInt128> _open = new();

    /// <param name="limit">Connections per client address, at least 1.</param>
    /// <param name="trustedProxies">Entries of <c>limits.trusted_proxies</c> (already checked): their connections are not counted.</param>
    /// <param name="rejected">Told of each connection closed over the limit.</param>
    /// <param name="ipv6Prefix"><c>limits.ipv6_prefix</c>: the bits of an IPv6 address that make one client.</param>
    public ClientConnections(int limit, IEnumerable<string> trustedProxies, Action rejected, int ipv6Prefix = ClientAddress.DefaultIpv6Prefix)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        _limit = limit;
        _ipv6Prefix = ipv6Prefix;
        _rejected = rejected;
        // The same reading of the entries as the forwarded headers' (IPv4-mapped entries also as IPv4), so that a proxy
        // is trusted for both or for neither.
        _trusted = ProxyAddress.ForwardedHeaders(trustedProxies);
    }

    /// <summary>Client addresses holding at least one counted connection.</summary>
    public int Clients => _open.Keys;

    /// <summary>
    /// Takes a place for a connection from <paramref name="remote"/>; false (and the refusal reported) when its address
    /// holds the limit. <paramref name="key"/> is what <see cref="Leave"/> gives back, null for a connection not
    /// counted (a trusted proxy's, or one without an IP address).
    /// </summary>
    public bool TryEnter(EndPoint? remote, out UInt128? key)
    {
        key = null;
        if (remote is not IPEndPoint { Address: var address })
        {
            return true;
        }

        address = Plain(address);
        if (ProxyAddress.Trusts(_trusted, address))
        {
            return true;
        }

        var client = Key(address, _ipv6Prefix);
        if (!_open.TryAdd(client, _limit))
        {
            _rejected();
            return false;
        }

        key = client;
        return true;
    }

    /// <summary>Gives back the place <see cref="TryEnter"/> took under <paramref name="key"/>.</summary>
    public void Leave(UInt128? key)
    {
        if (key is { } client)
        {
            _open.Remove(client);
        }
    }

    /// <summary>An IPv4 address as itself, also when it came mapped into IPv6 (a dual-stack socket's <c>::ffff:a.b.c.d</c>).</summary>
    private static IPAddress Plain(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    /// <summary>The count's key: an IPv4 address whole (its mapped IPv6 form), an IPv6 address's first <paramref name="ipv6Prefix"/> bits.</summary>
    internal static UInt128 Key(IPAddress address, int ipv6Prefix = ClientAddress.DefaultIpv6Prefix)
    {
        Span<byte> bytes = stackalloc byte[16];
        var v6 = address.AddressFamily == AddressFamily.InterNetwork ? address.MapToIPv6() : address;
        v6.TryWriteBytes(bytes, out _);
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            ClientAddress.KeepPrefix(bytes, ipv6Prefix);
        }

        return System.Buffers.Binary.BinaryPrimitives.ReadUInt128BigEndian(bytes);
    }
}
