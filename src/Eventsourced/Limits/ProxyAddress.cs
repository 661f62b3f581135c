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

    /// <summary>
    /// The forwarded-headers options that trust exactly <paramref name="entries"/> (already checked): the client's
    /// address (<c>X-Forwarded-For</c>, for the per-client limits) and the scheme the browser used
    /// (<c>X-Forwarded-Proto</c>, for the same-origin judgment: behind a proxy that terminates TLS, an <c>http://</c>
    /// page of the gateway's host is another origin than its <c>https://</c> one, as over <c>server.tls</c>).
    /// <c>X-Forwarded-Host</c> and <c>Forwarded</c> are not read: the <c>Host</c> a proxy passes on is the one asked for.
    /// </summary>
    public static Microsoft.AspNetCore.Builder.ForwardedHeadersOptions ForwardedHeaders(IEnumerable<string> entries)
    {
        var options = new Microsoft.AspNetCore.Builder.ForwardedHeadersOptions
        {
            ForwardedHeaders = Microsoft.AspNetCore.HttpOverrides.ForwardedHeaders.XForwardedFor | Microsoft.AspNetCore.HttpOverrides.ForwardedHeaders.XForwardedProto,
            // Walk X-Forwarded-For from the right while the hop is trusted; the first untrusted one is the client,
            // whatever a client wrote further left. X-Forwarded-Proto's entries are taken along the same walk (the
            // rightmost, a trusted proxy's, first).
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
