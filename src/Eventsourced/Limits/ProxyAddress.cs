using System.Net;
using Eventsourced.Configuration;

namespace Eventsourced.Limits;

/// <summary>An entry of <c>limits.trusted_proxies</c>: an IP address, or a network in CIDR notation.</summary>
internal sealed class ProxyAddress : IValueRule
{
    private ProxyAddress()
    {
    }

    public static string? Check(string value) =>
        IPAddress.TryParse(value, out _) || (value.Contains('/', StringComparison.Ordinal) && IPNetwork.TryParse(value, out _))
            ? null
            : $"expected an IP address or a network (10.0.0.0/8), got {ConfigText.Quote(value)}";

    /// <summary>
    /// The forwarded-headers options that trust exactly <paramref name="entries"/> (already checked): the client's
    /// address (<c>X-Forwarded-For</c>, for the per-client limits) and the scheme the browser used
    /// (<c>X-Forwarded-Proto</c>, for the same-origin judgment: behind a proxy that terminates TLS, an <c>http://</c>
    /// page of the gateway's host is another origin than its <c>https://</c> one, as over <c>server.tls</c>).
    /// <c>X-Forwarded-Host</c> and <c>Forwarded</c> are not read: the <c>Host</c> a proxy passes on is the one asked for.
    /// </summary>
    public static Microsoft.AspNetCore.Builder.ForwardedHeadersOptions ForwardedHeaders(IEnumerable<string> entries)
    {
        var options = new Microsoft.AspNetCore.Builder.ForwardedHeadersOptions
        {
            ForwardedHeaders = Microsoft.AspNetCore.HttpOverrides.ForwardedHeaders.XForwardedFor | Microsoft.AspNetCore.HttpOverrides.ForwardedHeaders.XForwardedProto,
            // Walk X-Forwarded-For from the right while the hop is trusted; the first untrusted one is the client,
            // whatever a client wrote further left. X-Forwarded-Proto's entries are taken along the same walk (the
            // rightmost, a trusted proxy's, first).
            ForwardLimit = null,
        };
        options.KnownProxies.Clear();
        options.KnownIPNetworks.Clear();
        foreach (var entry in entries)
        {
            if (entry.Contains('/', StringComparison.Ordinal))
            {
                var network = IPNetwork.Parse(entry);
                options.KnownIPNetworks.Add(network);
                if (IPv4Part(network) is { } v4)
                {
                    options.KnownIPNetworks.Add(v4);
                }
            }
            else
            {
                var address = IPAddress.Parse(entry);
                options.KnownProxies.Add(address);
                if (address.IsIPv4MappedToIPv6)
                {
                    options.KnownProxies.Add(address.MapToIPv4());
                }
            }
        }

        return options;
    }

    /// <summary>
    /// The first entry that trusts every address (<c>0.0.0.0/0</c>, <c>::/0</c>, or every IPv4 address as <c>::ffff:0:0/96</c>),
    /// or null: with it any client names itself in <c>X-Forwarded-For</c> and slips past every per-client limit.
    /// </summary>
    internal static string? TrustingEveryone(IEnumerable<string> entries) =>
        entries.FirstOrDefault(entry => entry.Contains('/', StringComparison.Ordinal) && IPNetwork.TryParse(entry, out var network)
            && (network.PrefixLength == 0 || IPv4Part(network) is { PrefixLength: 0 }));

    /// <summary>
    /// The IPv4 addresses <paramref name="network"/> holds in their IPv4-mapped IPv6 form (<c>::ffff:10.0.0.0/104</c>
    /// holds 10.0.0.0/8, <c>::/0</c> every IPv4 address), as an IPv4 network, or null. A connection to an IPv4 listener
    /// has a plain IPv4 address, which ASP.NET Core's forwarded-headers check does not match against IPv6 entries (it maps
    /// a dual-stack socket's <c>::ffff:a.b.c.d</c> to IPv4, not the entries), while <see cref="ClientConnections"/> trusts
    /// it: the proxy's connections went uncounted there and its <c>X-Forwarded-For</c> was ignored here.
    /// </summary>
    internal static IPNetwork? IPv4Part(IPNetwork network)
    {
        var start = network.BaseAddress;
        if (start.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            return null;
        }

        if (network.PrefixLength >= MappedPrefixLength)
        {
            return start.IsIPv4MappedToIPv6 ? new IPNetwork(start.MapToIPv4(), network.PrefixLength - MappedPrefixLength) : null;
        }

        // Shorter than ::ffff:0:0/96: it holds all of that block or none of it.
        return Holds(network, IPAddress.Any.MapToIPv6()) ? new IPNetwork(IPAddress.Any, 0) : null;
    }

    /// <summary>
    /// Whether <paramref name="options"/> (from <see cref="ForwardedHeaders"/>) name <paramref name="address"/> (IPv4 as
    /// itself, not mapped) as a trusted proxy, as the forwarded-headers check does for a connection's address.
    /// </summary>
    internal static bool Trusts(Microsoft.AspNetCore.Builder.ForwardedHeadersOptions options, IPAddress address) =>
        options.KnownProxies.Contains(address) || options.KnownIPNetworks.Any(network => Holds(network, address));

    /// <summary>
    /// Whether the first <see cref="IPNetwork.PrefixLength"/> bits of <paramref name="address"/> are
    /// <paramref name="network"/>'s (both of one family). Written out because <see cref="IPNetwork.Contains"/> of .NET
    /// 10 answers true for <c>::ffff:0.0.0.0</c> and any IPv6 network (<c>2001:db8::/32</c> too), which made every IPv4
    /// address trusted for an entry such as <c>2001:db8::/32</c>.
    /// </summary>
    internal static bool Holds(IPNetwork network, IPAddress address)
    {
        if (address.AddressFamily != network.BaseAddress.AddressFamily)
        {
            return false;
        }

        Span<byte> a = stackalloc byte[16];
        Span<byte> b = stackalloc byte[16];
        address.TryWriteBytes(a, out var length);
        network.BaseAddress.TryWriteBytes(b, out _);
        var bits = network.PrefixLength;
        for (var i = 0; i < length && bits > 0; i++, bits -= 8)
        {
            var mask = bits >= 8 ? 0xFF : (byte)(0xFF << (8 - bits));
            if ((a[i] & mask) != (b[i] & mask))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The length of the IPv4-mapped block's prefix, <c>::ffff:0:0/96</c>.</summary>
    private const int MappedPrefixLength = 96;
}
