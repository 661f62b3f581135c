using System.Globalization;
using Eventsourced.Configuration;

namespace Eventsourced.Broker;

/// <summary>
/// <c>broker.node</c> as a whole: every entry names the same virtual host. The entries are one pool: any subscription,
/// topic or publish goes through whichever connection is up and least loaded, so with two vhosts a client's queue
/// would be one queue on this subscribe and another on the next (what was published to the first waits there unread),
/// and the broker, arbitrating one subscriber per queue within a vhost, would let one subscriber per vhost through.
/// Entries may differ in host, port and user (nodes of one cluster, a user per node).
/// </summary>
internal static class BrokerNodesCheck
{
    public static IEnumerable<ConfigProblem> Check(BrokerOptions broker, ConfigOrigins origins)
    {
        ArgumentNullException.ThrowIfNull(broker);
        ArgumentNullException.ThrowIfNull(origins);
        (int Index, BrokerUrl Url)? first = null;
        for (var i = 0; i < broker.Node.Count; i++)
        {
            if (!BrokerUrl.TryParse(broker.Node[i], out var url))
            {
                continue; // reported by the entry's own rule
            }

            if (first is not { } reference)
            {
                first = (i, url);
            }
            else if (!string.Equals(url.VirtualHost, reference.Url.VirtualHost, StringComparison.Ordinal))
            {
                var itemKey = $"broker:node:{i.ToString(CultureInfo.InvariantCulture)}";
                var firstKey = $"broker:node:{reference.Index.ToString(CultureInfo.InvariantCulture)}";
                yield return new ConfigProblem(
                    origins.Of(itemKey),
                    $"broker.node[{origins.Label(itemKey, i)}]",
                    $"virtual host {ConfigText.Quote(url.VirtualHost)} differs from {ConfigText.Quote(reference.Url.VirtualHost)} of broker.node[{origins.Label(firstKey, reference.Index)}]: "
                    + "every entry must name the same virtual host (subscriptions go through any of them; run a gateway per virtual host)");
            }
        }
    }
}
