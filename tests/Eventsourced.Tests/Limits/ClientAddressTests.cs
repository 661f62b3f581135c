using System.Net;
using Eventsourced.Limits;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Tests.Limits;

public sealed class ClientAddressTests
{
    private static string Key(string address, int? ipv6Prefix)
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Parse(address);
        return ClientAddress.PartitionKey(context, ipv6Prefix ?? new LimitsOptions().Ipv6Prefix);
    }

    [Fact]
    public void IPv6_CountsByA64_WhenNotConfigured()
    {
        Assert.Equal("2001:db8:1:2::/64", Key("2001:db8:1:2:3:4:5:6", null));
        Assert.NotEqual(Key("2001:db8:1:2::1", null), Key("2001:db8:1:3::1", null));
    }

    /// <summary>
    /// One customer's /56 (or /48, RFC 6177) holds 256 (65,536) /64 networks: counted a /64 each, it had that many times
    /// limits.streams_per_client and limits.subscribes_per_second; limits.ipv6_prefix counts it once.
    /// </summary>
    [Theory]
    [InlineData(56, "2001:db8:1:200::1", "2001:db8:1:2ff:ffff::1", "2001:db8:1:300::1", "2001:db8:1:200::/56")]
    [InlineData(48, "2001:db8:1::1", "2001:db8:1:ffff::1", "2001:db8:2::1", "2001:db8:1::/48")]
    [InlineData(61, "2001:db8:1:8::1", "2001:db8:1:f::1", "2001:db8:1:10::1", "2001:db8:1:8::/61")]
    [InlineData(128, "2001:db8::1", "2001:db8::1", "2001:db8::2", "2001:db8::1/128")]
    public void IPv6_CountsByTheConfiguredPrefix(int prefix, string address, string sameClient, string otherClient, string key)
    {
        Assert.Equal(key, Key(address, prefix));
        Assert.Equal(Key(address, prefix), Key(sameClient, prefix));
        Assert.NotEqual(Key(address, prefix), Key(otherClient, prefix));
    }

    [Fact]
    public void IPv4_CountsWhole_WhateverThePrefix()
    {
        Assert.Equal("203.0.113.7", Key("203.0.113.7", 16));
        Assert.Equal("203.0.113.7", Key("::ffff:203.0.113.7", 16));
        Assert.NotEqual(Key("203.0.113.7", 16), Key("203.0.113.8", 16));
    }
}
