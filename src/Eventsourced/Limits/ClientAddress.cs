using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Limits;

/// <summary>Who a request counts against for <c>limits.*_per_client</c>.</summary>
internal static class ClientAddress
{
    /// <summary>
    /// The client's IPv4 address, or its IPv6 /64 network: one IPv6 subscriber is usually given a whole /64, so
    /// counting single IPv6 addresses would let one client take 2^64 shares. The address is the connection's, or
    /// the one a trusted proxy forwarded (<c>limits.trusted_proxies</c>, applied before this is read).
    /// </summary>
    public static string PartitionKey(HttpContext context)
    {
        var address = context.Connection.RemoteIpAddress;
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
        bytes[8..].Clear();
        return new IPAddress(bytes) + "/64";
    }
}
