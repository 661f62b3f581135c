using System.Net;
using System.Net.Sockets;

namespace Eventsourced.Hosting;

/// <summary>
/// Binds each address the gateway will listen on, as Kestrel will (see <see cref="KestrelListen"/>), and lets go at once,
/// before anything starts: an address that cannot be had is one <see cref="IOException"/> naming its key, its address and
/// why (in use, permission denied, not this host's), which the program answers with one line and exit 69. Left to
/// Kestrel, the host logged a stack trace for a taken port, and a denied one (a port below 1024 without the right to
/// it) was no <see cref="IOException"/> at all: the program aborted (SIGABRT, 134).
/// </summary>
internal static class ListenProbe
{
    /// <exception cref="IOException"><paramref name="address"/> cannot be listened on; the message says which and why.</exception>
    public static void ThrowIfUnavailable(string key, string address)
    {
        var colon = address.LastIndexOf(':');
        var host = address[..colon].Trim('[', ']');
        var port = int.Parse(address[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        var problem = host switch
        {
            // Kestrel's ListenAnyIP: [::] for IPv4 and IPv6 at once; on any failure but "in use", 0.0.0.0 instead.
            "" or "*" => AnyIP(port),
            // Kestrel's ListenLocalhost: fails when either loopback address is in use, or when neither can be had.
            _ when host.Equals("localhost", StringComparison.OrdinalIgnoreCase) => Localhost(port),
            _ when IPAddress.TryParse(host, out var ip) => TryBind(new IPEndPoint(ip, port)),
            _ => Resolve(host).Select(ip => TryBind(new IPEndPoint(ip, port))).FirstOrDefault(p => p is not null),
        };
        if (problem is { } failed)
        {
            throw new IOException($"{key} {address}: {Describe(failed, port)}", failed);
        }
    }

    private static SocketException? AnyIP(int port)
    {
        var dual = TryBind(new IPEndPoint(IPAddress.IPv6Any, port));
        return dual is null || dual.SocketErrorCode == SocketError.AddressAlreadyInUse ? dual : TryBind(new IPEndPoint(IPAddress.Any, port));
    }

    private static SocketException? Localhost(int port)
    {
        var v4 = TryBind(new IPEndPoint(IPAddress.Loopback, port));
        var v6 = TryBind(new IPEndPoint(IPAddress.IPv6Loopback, port));
        return v4?.SocketErrorCode == SocketError.AddressAlreadyInUse ? v4
            : v6?.SocketErrorCode == SocketError.AddressAlreadyInUse ? v6
            : v4 is not null && v6 is not null ? v4
            : null;
    }

    private static IPAddress[] Resolve(string host)
    {
        try
        {
            var addresses = Dns.GetHostAddresses(host);
            return addresses.Length > 0 ? addresses : throw new IOException($"the host name {host} has no address");
        }
        catch (SocketException ex)
        {
            throw new IOException($"cannot resolve the host name {host}: {ex.Message}", ex);
        }
    }

    /// <summary>Null when <paramref name="endpoint"/> can be bound now; the socket Kestrel would make (dual-mode on <c>[::]</c>).</summary>
    private static SocketException? TryBind(IPEndPoint endpoint)
    {
        try
        {
            using var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            if (endpoint.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            socket.Bind(endpoint);
            return null;
        }
        catch (SocketException ex)
        {
            return ex;
        }
    }

    private static string Describe(SocketException ex, int port) => ex.SocketErrorCode switch
    {
        SocketError.AddressAlreadyInUse => "address already in use (another process listens there, or a previous instance still does)",
        SocketError.AccessDenied when port is > 0 and < 1024 => "permission denied (a port below 1024 needs root or the capability CAP_NET_BIND_SERVICE)",
        SocketError.AccessDenied => "permission denied",
        SocketError.AddressNotAvailable => "not an address of this host",
        _ => ex.Message,
    };
}
