using System.Net;
using System.Net.Sockets;
using Eventsourced.Limits;

namespace Eventsourced.Tests.Limits;

public sealed class ClientConnectionsTests
{
    private static IPEndPoint At(string address) => new(IPAddress.Parse(address), 40000);

    [Fact]
    public void OneAddress_IsHeldToTheLimit_OthersAreNot_AndALeaveGivesAPlaceBack()
    {
        var rejected = 0;
        var share = new ClientConnections(2, [], () => rejected++);
        Assert.True(share.TryEnter(At("203.0.113.7"), out var first));
        Assert.True(share.TryEnter(At("203.0.113.7"), out _));
        Assert.False(share.TryEnter(At("203.0.113.7"), out var refused));
        Assert.Null(refused);
        Assert.Equal(1, rejected);
        Assert.True(share.TryEnter(At("203.0.113.8"), out _));

        share.Leave(first);
        Assert.True(share.TryEnter(At("203.0.113.7"), out _));
        Assert.Equal(1, rejected);
    }

    [Fact]
    public void AnIPv4AddressMappedIntoIPv6_CountsAsTheSameClient()
    {
        var share = new ClientConnections(1, [], () => { });
        Assert.True(share.TryEnter(At("203.0.113.7"), out _));
        Assert.False(share.TryEnter(At("::ffff:203.0.113.7"), out _));
    }

    /// <summary>One IPv6 subscriber is usually given a whole /64: counting single addresses would give it 2^64 shares.</summary>
    [Fact]
    public void IPv6Addresses_OfOne64_ShareOnePlace_AnotherNetworkHasItsOwn()
    {
        var share = new ClientConnections(1, [], () => { });
        Assert.True(share.TryEnter(At("2001:db8:1:2::1"), out _));
        Assert.False(share.TryEnter(At("2001:db8:1:2:ffff:ffff:ffff:ffff"), out _));
        Assert.True(share.TryEnter(At("2001:db8:1:3::1"), out _));
    }

    /// <summary>
    /// ISPs commonly give one customer a /56 or a /48 (RFC 6177): with <c>limits.ipv6_prefix</c> 56 every /64 of it is the
    /// one client it is, where a /64 each let one customer hold 256 times <c>limits.connections_per_client</c>.
    /// </summary>
    [Fact]
    public void IPv6Addresses_OfOneConfiguredPrefix_ShareOnePlace_AnotherNetworkHasItsOwn()
    {
        var share = new ClientConnections(1, [], () => { }, ipv6Prefix: 56);
        Assert.True(share.TryEnter(At("2001:db8:1:200::1"), out _));
        Assert.False(share.TryEnter(At("2001:db8:1:2ff::1"), out _));
        Assert.False(share.TryEnter(At("2001:db8:1:2ab:ffff:ffff:ffff:ffff"), out _));
        Assert.True(share.TryEnter(At("2001:db8:1:300::1"), out _));
        Assert.True(share.TryEnter(At("203.0.113.7"), out _));
        Assert.False(share.TryEnter(At("203.0.113.7"), out _));
        Assert.True(share.TryEnter(At("203.0.113.8"), out _));

        var bits = new ClientConnections(1, [], () => { }, ipv6Prefix: 61);
        Assert.True(bits.TryEnter(At("2001:db8:1:8::1"), out _));
        Assert.False(bits.TryEnter(At("2001:db8:1:f::1"), out _));
        Assert.True(bits.TryEnter(At("2001:db8:1:10::1"), out _));
    }

    [Theory]
    [InlineData("10.0.0.5", "10.0.0.5")]
    [InlineData("10.0.0.0/8", "10.20.30.40")]
    [InlineData("10.0.0.0/8", "::ffff:10.20.30.40")]
    [InlineData("2001:db8::/32", "2001:db8:5::9")]
    [InlineData("::ffff:10.0.0.5", "10.0.0.5")]
    public void TrustedProxies_AreNotCounted(string trusted, string address)
    {
        var share = new ClientConnections(1, [trusted], () => { });
        for (var i = 0; i < 5; i++)
        {
            Assert.True(share.TryEnter(At(address), out var key));
            Assert.Null(key);
        }

        Assert.Equal(0, share.Clients);
    }

    [Theory]
    [InlineData("10.0.0.5", "10.0.0.6")]
    [InlineData("10.0.0.0/8", "11.0.0.1")]
    [InlineData("2001:db8::/32", "2001:db9::1")]
    public void AddressesOutsideTheTrustedEntries_AreCounted(string trusted, string address)
    {
        var share = new ClientConnections(1, [trusted], () => { });
        Assert.True(share.TryEnter(At(address), out _));
        Assert.False(share.TryEnter(At(address), out _));
    }

    [Fact]
    public void EveryPlaceGivenBack_LeavesNoEntry()
    {
        var share = new ClientConnections(3, [], () => { });
        var keys = new List<UInt128?>();
        foreach (var address in new[] { "203.0.113.7", "203.0.113.7", "2001:db8::1", "198.51.100.1" })
        {
            Assert.True(share.TryEnter(At(address), out var key));
            keys.Add(key);
        }

        Assert.Equal(3, share.Clients);
        keys.ForEach(share.Leave);
        Assert.Equal(0, share.Clients);
        share.Leave(null); // a connection that was not counted
        Assert.Equal(0, share.Clients);
    }

    [Fact]
    public void AConnectionWithoutAnIPAddress_IsNotCounted()
    {
        var share = new ClientConnections(1, [], () => { });
        Assert.True(share.TryEnter(new UnixDomainSocketEndPoint("/tmp/x.sock"), out var key));
        Assert.Null(key);
        Assert.True(share.TryEnter(null, out _));
    }
}
