using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Limits;

/// <summary>Who a request counts against for <c>limits.*_per_client</c>.</summary>
internal static class ClientAddress
{
    /// <summary><c>limits.ipv6_prefix</c>'s default: a /64, what one IPv6 subscriber gets at the least.</summary>
    public const int DefaultIpv6Prefix = 64;

    /// <summary>
    /// The client's IPv4 address, or its IPv6 network of <c>limits.ipv6_prefix</c> bits (a /64 by default): one IPv6
    /// subscriber is given at least a whole /64 (a home often a /56 or a /48), so counting single IPv6 addresses would let
    /// one client take 2^64 shares. The address is the connection's, or the one a trusted proxy forwarded
    /// (<c>limits.trusted_proxies</c>, applied before this is read).
    /// </summary>
    public static string PartitionKey(HttpContext context, int ipv6Prefix) =>
        PartitionKey(context.Connection.RemoteIpAddress, ipv6Prefix);

    /// <summary><see cref="PartitionKey(HttpContext, int)"/> of <paramref name="address"/>, IPv6 networks of <paramref name="ipv6Prefix"/> bits.</summary>
    public static string PartitionKey(IPAddress? address, int ipv6Prefix)
    {
        if (address is null)
        {
            return "unknown";
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        KeepPrefix(bytes, ipv6Prefix);
        return new IPAddress(bytes) + "/" + ipv6Prefix;
    }

    /// <summary>Clears every bit of the 16 bytes of an IPv6 address after its first <paramref name="bits"/>.</summary>
    public static void KeepPrefix(Span<byte> address, int bits)
    {
        for (var i = 0; i < address.Length; i++, bits -= 8)
        {
            address[i] &= bits >= 8 ? (byte)0xFF : bits <= 0 ? (byte)0 : (byte)(0xFF << (8 - bits));
        }
    }
}
