using System.Net;
using Eventsourced.Configuration;

namespace Eventsourced.Limits;

/// <summary>An entry of <c>limits.trusted_proxies</c>: an IP address, or a network in CIDR notation.</summary>
internal sealed class ProxyAddress : IValueRule
{
    private ProxyAddress()
    {
    }

    public static string? Check(string value) =>
        IPAddress.TryParse(value, out _) || (value.Contains('/', StringComparison.Ordinal) && IPNetwork.TryParse(value, out _))
            ? null
            : $"expected an IP address or a network (10.0.0.0/8), got {ConfigText.Quote(value)}";

    /// <summary>The forwarded-headers options that trust exactly <paramref name="entries"/> (already checked).</summary>
    public static Microsoft.AspNetCore.Builder.ForwardedHeadersOptions ForwardedHeaders(IEnumerable<string> entries)
    {
        var options = new Microsoft.AspNetCore.Builder.ForwardedHeadersOptions
        {
            ForwardedHeaders = Microsoft.AspNetCore.HttpOverrides.ForwardedHeaders.XForwardedFor,
            // Walk X-Forwarded-For from the right while the hop is trusted; the first untrusted one is the client,
            // whatever a client wrote further left.
            ForwardLimit = null,
        };
        options.KnownProxies.Clear();
        options.KnownIPNetworks.Clear();
        foreach (var entry in entries)
        {
            if (entry.Contains('/', StringComparison.Ordinal))
            {
                options.KnownIPNetworks.Add(IPNetwork.Parse(entry));
            }
            else
            {
                options.KnownProxies.Add(IPAddress.Parse(entry));
            }
        }

        return options;
    }
}
