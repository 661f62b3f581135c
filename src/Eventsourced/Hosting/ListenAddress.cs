using System.Net;
using System.Net.Sockets;
using Eventsourced.Configuration;

namespace Eventsourced.Hosting;

/// <summary>
/// Checks <c>server.address</c>: <c>host:port</c>, port 0-65535; the host is an IPv4 address,
/// a bracketed IPv6 address, a DNS name (underscores allowed, as in container names), or <c>*</c> / nothing for all interfaces.
/// </summary>
internal sealed class ListenAddress : IValueRule
{
    private ListenAddress()
    {
    }

    /// <summary>A problem message, or null when <paramref name="address"/> is fine.</summary>
    public static string? Check(string address)
    {
        var colon = address.LastIndexOf(':');
        if (colon < 0 || address.EndsWith(']'))
        {
            // Without a port, a bracketed IPv6 address's last colon is inside its brackets.
            return $"expected host:port, got {ConfigText.Quote(address)}";
        }

        var host = address[..colon];
        var port = address[(colon + 1)..];
        if (port.Length is 0 or > 5 || !port.All(char.IsAsciiDigit) || int.Parse(port, System.Globalization.CultureInfo.InvariantCulture) > 65535)
        {
            return $"port must be a number from 0 to 65535, got {ConfigText.Quote(port)}";
        }

        return host switch
        {
            "" or "*" => null,
            ['[', .., ']'] => IsIPv6(host[1..^1]) ? null : $"invalid IPv6 address {ConfigText.Quote(host)}",
            _ when host.Contains(':', StringComparison.Ordinal) => $"write IPv6 addresses in brackets ([::1]:2069), got {ConfigText.Quote(address)}",
            _ when host.All(c => char.IsAsciiDigit(c) || c == '.') => IsIPv4(host) ? null : $"invalid IPv4 address {ConfigText.Quote(host)}",
            _ => IsHostName(host) ? null : $"invalid host name {ConfigText.Quote(host)}",
        };
    }

    /// <summary>Whether a valid <paramref name="address"/> listens on loopback only (127.0.0.0/8, [::1], localhost).</summary>
    public static bool IsLoopback(string address)
    {
        var host = address[..Math.Max(0, address.LastIndexOf(':'))].Trim('[', ']');
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));
    }

    private static bool IsIPv6(string text) =>
        IPAddress.TryParse(text, out var address) && address.AddressFamily == AddressFamily.InterNetworkV6;

    private static bool IsIPv4(string text)
    {
        var parts = text.Split('.');
        return parts.Length == 4 && parts.All(p => p.Length is > 0 and <= 3 && int.Parse(p, System.Globalization.CultureInfo.InvariantCulture) <= 255);
    }

    private static bool IsHostName(string text) =>
        text.Length <= 253 && text.Split('.').All(label =>
            label.Length is > 0 and <= 63
            && label.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')
            && label[0] != '-'
            && label[^1] != '-');
}

/// <summary>An optional <see cref="ListenAddress"/>: empty, or <c>host:port</c>.</summary>
internal sealed class OptionalListenAddress : IValueRule
{
    private OptionalListenAddress()
    {
    }

    public static string? Check(string address) => address.Length == 0 ? null : ListenAddress.Check(address);
}
