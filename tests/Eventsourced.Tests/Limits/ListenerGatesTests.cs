using System.Net;
using Eventsourced.Limits;

namespace Eventsourced.Tests.Limits;

public sealed class ListenerGatesTests
{
    private readonly ConnectionGate _clients = new(10, () => { });
    private readonly ConnectionGate _metrics = new(10, () => { });

    [Fact]
    public void Of_LocalhostRegisteredAsIPv4_CountsItsIPv6CopyInTheSameGate()
    {
        var gates = new ListenerGates();
        gates.Add(new IPEndPoint(IPAddress.Loopback, 2069), _clients);
        Assert.Same(_clients, gates.Of(new IPEndPoint(IPAddress.Loopback, 2069)));
        Assert.Same(_clients, gates.Of(new IPEndPoint(IPAddress.IPv6Loopback, 2069)));
        Assert.Null(gates.Of(new IPEndPoint(IPAddress.IPv6Loopback, 2070)));
    }

    [Fact]
    public void Of_EveryInterface_CountsTheIPv4FallbackInTheSameGate()
    {
        var gates = new ListenerGates();
        gates.Add(new IPEndPoint(IPAddress.IPv6Any, 2069), _clients);
        gates.Add(new IPEndPoint(IPAddress.Loopback, 9069), _metrics);
        Assert.Same(_clients, gates.Of(new IPEndPoint(IPAddress.Any, 2069)));
        Assert.Same(_metrics, gates.Of(new IPEndPoint(IPAddress.Loopback, 9069)));
    }

    [Fact]
    public void Of_TwoListenersOnOnePortOfTheTwoLoopbacks_EachGetsItsOwn()
    {
        var gates = new ListenerGates();
        gates.Add(new IPEndPoint(IPAddress.Loopback, 2069), _clients);
        gates.Add(new IPEndPoint(IPAddress.IPv6Loopback, 2069), _metrics);
        Assert.Same(_clients, gates.Of(new IPEndPoint(IPAddress.Loopback, 2069)));
        Assert.Same(_metrics, gates.Of(new IPEndPoint(IPAddress.IPv6Loopback, 2069)));
    }

    [Fact]
    public void Of_AnAddressNoListenerRegistered_IsUngated()
    {
        var gates = new ListenerGates();
        gates.Add(new IPEndPoint(IPAddress.Parse("10.0.0.1"), 2069), _clients);
        Assert.Null(gates.Of(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 2069)));
        Assert.Null(gates.Of(new System.Net.Sockets.UnixDomainSocketEndPoint("/tmp/eventsourced.sock")));
    }
}
