using System.Net;
using Eventsourced.Limits;

namespace Eventsourced.Tests.Limits;

public sealed class ProxyAddressTests
{
    [Theory]
    [InlineData("::ffff:10.0.0.0/104", "10.0.0.0/8")]
    [InlineData("::ffff:192.0.2.7/128", "192.0.2.7/32")]
    [InlineData("::ffff:0:0/96", "0.0.0.0/0")]
    [InlineData("::/0", "0.0.0.0/0")]
    [InlineData("::/64", "0.0.0.0/0")] // ::ffff:0:0/96 lies inside ::/64
    [InlineData("::/96", null)] // the old IPv4-compatible block, not the mapped one
    [InlineData("2001:db8::/32", null)]
    [InlineData("10.0.0.0/8", null)]
    public void IPv4Part_IsTheIPv4NetworkOfTheMappedAddressesItHolds(string network, string? expected) =>
        Assert.Equal(expected, ProxyAddress.IPv4Part(IPNetwork.Parse(network))?.ToString());

    [Theory]
    [InlineData(new[] { "127.0.0.1", "0.0.0.0/0" }, "0.0.0.0/0")]
    [InlineData(new[] { "::/0" }, "::/0")]
    [InlineData(new[] { "10.0.0.0/8", "::ffff:0:0/96" }, "::ffff:0:0/96")] // every IPv4 address, as mapped ones
    [InlineData(new[] { "::/64" }, "::/64")] // holds ::ffff:0:0/96
    [InlineData(new[] { "127.0.0.1", "::1", "10.0.0.0/8", "2001:db8::/32", "::ffff:10.0.0.0/104" }, null)]
    [InlineData(new string[0], null)]
    public void TrustingEveryone_NamesTheEntryThatTrustsEveryAddress(string[] entries, string? expected) =>
        Assert.Equal(expected, ProxyAddress.TrustingEveryone(entries));

    [Theory]
    [InlineData("::ffff:10.0.0.5", "10.0.0.5", true)]
    [InlineData("::ffff:10.0.0.0/104", "10.20.30.40", true)]
    [InlineData("::/0", "198.51.100.1", true)]
    [InlineData("2001:db8::/32", "10.0.0.5", false)]
    [InlineData("10.0.0.5", "10.0.0.6", false)]
    public void ForwardedHeaders_TrustAMappedEntryForItsIPv4Address(string entry, string connection, bool trusted)
    {
        var options = ProxyAddress.ForwardedHeaders([entry]);
        var address = IPAddress.Parse(connection);
        Assert.Equal(trusted, options.KnownProxies.Contains(address) || options.KnownIPNetworks.Any(n => n.Contains(address)));
    }

    /// <summary><see cref="IPNetwork.Contains"/> of .NET 10 takes <c>::ffff:0.0.0.0</c> for a member of any IPv6 network.</summary>
    [Theory]
    [InlineData("2001:db8::/32", "::ffff:0.0.0.0", false)]
    [InlineData("2001:db8::/32", "2001:db8:ffff::1", true)]
    [InlineData("2001:db8::/32", "2001:db9::1", false)]
    [InlineData("10.0.0.0/8", "10.255.0.1", true)]
    [InlineData("10.0.0.0/8", "11.0.0.1", false)]
    [InlineData("10.0.0.0/9", "10.128.0.1", false)]
    [InlineData("10.0.0.0/9", "10.127.255.255", true)]
    [InlineData("::ffff:0:0/96", "::ffff:0.0.0.0", true)]
    [InlineData("::/0", "2001:db8::1", true)]
    [InlineData("0.0.0.0/0", "2001:db8::1", false)]
    public void Holds_ComparesThePrefixBitsOnly(string network, string address, bool holds) =>
        Assert.Equal(holds, ProxyAddress.Holds(IPNetwork.Parse(network), IPAddress.Parse(address)));
}
