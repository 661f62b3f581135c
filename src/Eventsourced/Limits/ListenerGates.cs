using System.Net;

namespace Eventsourced.Limits;

/// <summary>
/// Which <see cref="ConnectionGate"/> counts the connections of an address Kestrel binds. A listener's addresses are
/// registered as configured (<c>localhost</c> as 127.0.0.1, every interface as <c>[::]</c>); Kestrel binds them as
/// they are or as copies for ::1 and 0.0.0.0, which belong to the same listener. The configuration loader refuses two
/// listeners on one port of one address, so at most one registration matches, except two listeners both on port 0.
/// </summary>
internal sealed class ListenerGates
{
    private readonly List<(IPEndPoint Registered, ConnectionGate Gate)> _gates = [];
    private readonly Lock _lock = new();

    /// <summary>Counts connections of <paramref name="endpoint"/> (a listener's configured address) in <paramref name="gate"/>.</summary>
    public void Add(EndPoint endpoint, ConnectionGate gate)
    {
        if (endpoint is IPEndPoint ip)
        {
            lock (_lock)
            {
                _gates.Add((ip, gate));
            }
        }
    }

    /// <summary>The gate of the listener that registered <paramref name="bound"/> or the address it was copied from, or null.</summary>
    public ConnectionGate? Of(EndPoint bound)
    {
        if (bound is not IPEndPoint ip)
        {
            return null;
        }

        lock (_lock)
        {
            // The address itself first: 127.0.0.1 and [::1] may be two listeners on one port.
            return _gates.Find(g => g.Registered.Equals(ip)).Gate
                ?? _gates.Find(g => g.Registered.Port == ip.Port && CopiedFrom(g.Registered.Address, ip.Address)).Gate;
        }
    }

    /// <summary>Whether Kestrel binds <paramref name="bound"/> for <paramref name="registered"/>: every interface in IPv4 too, <c>localhost</c> in IPv6 too.</summary>
    private static bool CopiedFrom(IPAddress registered, IPAddress bound) =>
        registered.Equals(IPAddress.IPv6Any) || registered.Equals(IPAddress.Any)
        || (IPAddress.IsLoopback(registered) && IPAddress.IsLoopback(bound));
}
