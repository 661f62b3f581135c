using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Eventsourced.Hosting;

/// <summary>
/// <c>server.address</c> (checked by the configuration loader) as Kestrel endpoints: <c>0.0.0.0:2069</c>, <c>[::1]:2069</c>, <c>localhost:2069</c>,
/// <c>*:2069</c> or <c>:2069</c> (every interface, IPv4 and IPv6), or a host name resolved at start.
/// </summary>
internal static class KestrelListen
{
    public static void Apply(KestrelServerOptions kestrel, string address, Action<ListenOptions>? configure = null)
    {
        configure ??= static _ => { };
        var (host, port) = Split(address);
        if (host is "" or "*")
        {
            kestrel.ListenAnyIP(port, configure);
        }
        else if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            kestrel.ListenLocalhost(port, configure);
        }
        else if (IPAddress.TryParse(host, out var ip))
        {
            kestrel.Listen(ip, port, configure);
        }
        else
        {
            foreach (var resolved in Resolve(host, address))
            {
                kestrel.Listen(resolved, port, configure);
            }
        }
    }

    /// <summary>An address as the configuration loader checked it: its host (without brackets; <c>""</c> or <c>*</c> for every interface) and port.</summary>
    internal static (string Host, int Port) Split(string address)
    {
        var colon = address.LastIndexOf(':');
        return (address[..colon].Trim('[', ']'), int.Parse(address[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// A host name's addresses; one that does not resolve is an <see cref="IOException"/> (cannot listen), as a taken port
    /// is, its message starting with <paramref name="where"/>.
    /// </summary>
    internal static IPAddress[] Resolve(string host, string where)
    {
        IPAddress[] addresses;
        try
        {
            addresses = Dns.GetHostAddresses(host);
        }
        catch (SocketException ex)
        {
            throw new IOException($"{where}: cannot resolve the host name {host}: {ex.Message}", ex);
        }

        return addresses.Length > 0 ? addresses : throw new IOException($"{where}: the host name {host} has no address");
    }
}
