using System.Net;
using System.Net.Sockets;

namespace Eventsourced.Hosting;

/// <summary>
/// Binds each address the gateway will listen on, as Kestrel will (see <see cref="KestrelListen"/>), and lets go at once,
/// before anything starts: an address that cannot be had is one <see cref="IOException"/> naming its key, its address and
/// why (in use, permission denied, not this host's, overlapping another key's), which the program answers with one line
/// and exit 69. Left to Kestrel, the host logged a stack trace for a taken port, and a denied one (a port below 1024
/// without the right to it) was no <see cref="IOException"/> at all: the program aborted (SIGABRT, 134). The probe binds
/// and never listens: a socket that listened, even for a moment, took connections that the gateway never answered (a
/// supervisor or a load tool that waits for the port to open went on before Kestrel listened, and its first connections
/// were reset or refused). Bound alone, a socket cannot show that <c>metrics.address</c> overlaps <c>server.address</c>
/// (.NET binds with <c>SO_REUSEADDR</c> on Linux, so two sockets bind one port until one listens), so the probe
/// remembers what it bound and compares: <c>:2069</c> and <c>127.0.0.1:2069</c> are different texts of one port.
/// </summary>
internal sealed class ListenProbe
{
    private readonly List<(string Key, string Address, IPEndPoint Bound)> _taken = [];

    /// <summary>Probes each listen address of <paramref name="options"/> (<c>server.address</c>, then <c>metrics.address</c>) and lets go of them.</summary>
    /// <exception cref="IOException">An address cannot be listened on; the message says which and why.</exception>
    public static void ThrowIfUnavailable(Configuration.GatewayOptions options)
    {
        var probe = new ListenProbe();
        probe.Take("server.address", options.Server.Address);
        if (options.Metrics.Address.Length > 0)
        {
            probe.Take("metrics.address", options.Metrics.Address);
        }
    }

    /// <summary>Binds <paramref name="address"/> and lets go, remembering what it bound for the next address's overlap.</summary>
    /// <exception cref="IOException"><paramref name="address"/> cannot be listened on; the message says which and why.</exception>
    public void Take(string key, string address)
    {
        var (host, port) = KestrelListen.Split(address);
        var held = new List<Socket>();
        // The addresses it binds; null: every address.
        IPAddress[]? addresses = host switch
        {
            "" or "*" => null,
            _ when host.Equals("localhost", StringComparison.OrdinalIgnoreCase) => [IPAddress.Loopback, IPAddress.IPv6Loopback],
            _ when IPAddress.TryParse(host, out var ip) => [ip],
            _ => KestrelListen.Resolve(host, $"{key} {address}"),
        };
        if (Overlap(port, addresses) is { } overlap)
        {
            throw new IOException($"{key} {address}: {overlap}");
        }

        var problem = host switch
        {
            // Kestrel's ListenAnyIP: [::] for IPv4 and IPv6 at once; on any failure but "in use", 0.0.0.0 instead.
            "" or "*" => AnyIP(port, held),
            // Kestrel's ListenLocalhost: fails when either loopback address is in use, or when neither can be had.
            _ when host.Equals("localhost", StringComparison.OrdinalIgnoreCase) => Localhost(port, held),
            _ => addresses!.Select(ip => TryBind(new IPEndPoint(ip, port), held)).FirstOrDefault(p => p is not null),
        };
        foreach (var socket in held)
        {
            _taken.Add((key, address, (IPEndPoint)socket.LocalEndPoint!));
            socket.Dispose();
        }

        if (problem is { } failed)
        {
            throw new IOException($"{key} {address}: {Describe(failed, port)}", failed);
        }
    }

    private static SocketException? AnyIP(int port, List<Socket> held)
    {
        var dual = TryBind(new IPEndPoint(IPAddress.IPv6Any, port), held);
        return dual is null || dual.SocketErrorCode == SocketError.AddressAlreadyInUse ? dual : TryBind(new IPEndPoint(IPAddress.Any, port), held);
    }

    private static SocketException? Localhost(int port, List<Socket> held)
    {
        var v4 = TryBind(new IPEndPoint(IPAddress.Loopback, port), held);
        var v6 = TryBind(new IPEndPoint(IPAddress.IPv6Loopback, port), held);
        return v4?.SocketErrorCode == SocketError.AddressAlreadyInUse ? v4
            : v6?.SocketErrorCode == SocketError.AddressAlreadyInUse ? v6
            : v4 is not null && v6 is not null ? v4
            : null;
    }

    /// <summary>
    /// Null when <paramref name="endpoint"/> can be bound now, the socket Kestrel would make (dual-mode on <c>[::]</c>)
    /// then added to <paramref name="held"/>, bound and not listening. .NET binds with <c>SO_REUSEADDR</c> on Linux (as
    /// Kestrel does, so that a port with connections in TIME_WAIT can be had): the bind fails "in use" only when another
    /// socket listens there.
    /// </summary>
    private static SocketException? TryBind(IPEndPoint endpoint, List<Socket> held)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endpoint.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            socket.Bind(endpoint);
            held.Add(socket);
            return null;
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            return ex;
        }
    }

    /// <summary>
    /// Which address this probe took before would listen on <paramref name="port"/> of one of <paramref name="addresses"/>
    /// (null: every address), or null. Port 0 is a new port each time, never an overlap.
    /// </summary>
    private string? Overlap(int port, IPAddress[]? addresses) => port == 0 ? null : _taken
        .Where(h => h.Bound.Port == port && (addresses is null || addresses.Any(a => Share(a, h.Bound.Address))))
        .Select(h => $"overlaps {h.Key} {h.Address} (both would listen on port {port} of the same address); give it another port")
        .FirstOrDefault();

    /// <summary>
    /// Whether listeners on <paramref name="a"/> and <paramref name="b"/> (one port) take the same connections: one
    /// address, or <c>[::]</c> (dual-mode, as Kestrel and this probe bind it: every address) beside any, or
    /// <c>0.0.0.0</c> beside an IPv4 address.
    /// </summary>
    private static bool Share(IPAddress a, IPAddress b) => a.Equals(b)
        || a.Equals(IPAddress.IPv6Any) || b.Equals(IPAddress.IPv6Any)
        || (a.Equals(IPAddress.Any) && b.AddressFamily == AddressFamily.InterNetwork)
        || (b.Equals(IPAddress.Any) && a.AddressFamily == AddressFamily.InterNetwork);

    private static string Describe(SocketException ex, int port) => ex.SocketErrorCode switch
    {
        SocketError.AddressAlreadyInUse => "address already in use (another process listens there, or a previous instance still does)",
        SocketError.AccessDenied when port is > 0 and < 1024 => "permission denied (a port below 1024 needs root or the capability CAP_NET_BIND_SERVICE)",
        SocketError.AccessDenied => "permission denied",
        SocketError.AddressNotAvailable => "not an address of this host",
        _ => ex.Message,
    };
}
