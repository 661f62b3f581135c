using System.ComponentModel.DataAnnotations;
using Eventsourced.Configuration;
using Eventsourced.Http;
using Microsoft.Extensions.Configuration;

namespace Eventsourced.WebSockets;

/// <summary>
/// The <c>ws</c> section: the WebSocket endpoint, which subscribes as the SSE stream does and sends each
/// message as a JSON text frame; clients may acknowledge messages themselves and, where allowed, publish.
/// Keepalive pings follow <c>server.heartbeat</c>, and a client that answers no ping within
/// <c>server.write_timeout</c> is dropped.
/// </summary>
public sealed class WebSocketTransportOptions
{
    /// <summary><c>ws.path</c>: where WebSockets are accepted; empty switches the endpoint off.</summary>
    [ConfigurationKeyName("path")]
    [ValueRule<EndpointPath>]
    public string Path { get; set; } = "/ws";

    /// <summary><c>ws.ack_timeout</c>: with <c>acks=client</c>, seconds a message may wait for the client's acknowledgement before it goes back to the queue.</summary>
    [ConfigurationKeyName("ack_timeout")]
    [Range(1, 86400)]
    public int AckTimeoutSeconds { get; set; } = 30;

    /// <summary><c>ws.max_message_size</c>: bytes of one message from the client; a larger one closes the connection (1009).</summary>
    [ConfigurationKeyName("max_message_size")]
    [Range(64, 16 * 1024 * 1024)]
    public int MaxMessageSize { get; set; } = 64 * 1024;

    /// <summary><c>ws.publish</c>: whether clients may publish (<c>{"publish": ...}</c>).</summary>
    [ConfigurationKeyName("publish")]
    public bool Publish { get; set; }

    /// <summary>
    /// <c>ws.publish_exchange</c>: the exchange clients publish to (it must exist). The default exchange (empty),
    /// which routes by queue name (a topic's stream, say), only with a routing key that starts with literal text.
    /// </summary>
    [ConfigurationKeyName("publish_exchange")]
    [ValueRule<ExchangeName>]
    public string PublishExchange { get; set; } = "amq.topic";

    /// <summary><c>ws.publish_routing_key</c>: the routing key of a client's message: <c>${to}</c> (the client's <c>to</c>), <c>${query:NAME}</c>, <c>${cookie:NAME}</c>, <c>${claim:NAME}</c> and literal text.</summary>
    [ConfigurationKeyName("publish_routing_key")]
    [ValueRule<RoutingKeyTemplate>]
    public string PublishRoutingKey { get; set; } = "${to}";

    /// <summary><c>ws.publish_rate</c>: messages per second one sender (a token's <c>sub</c>, else a client address) may publish over all its WebSockets, on average.</summary>
    [ConfigurationKeyName("publish_rate")]
    [Range(1, 100_000)]
    public int PublishRate { get; set; } = 10;

    /// <summary><c>ws.publish_burst</c>: messages one sender may publish at once, over all its WebSockets, before <c>ws.publish_rate</c> applies.</summary>
    [ConfigurationKeyName("publish_burst")]
    [Range(1, 100_000)]
    public int PublishBurst { get; set; } = 20;

    /// <summary>
    /// <c>ws.close_refusals</c>: a refused WebSocket subscription is accepted and closed at once with 4000 + the HTTP status
    /// (4401, 4403, 4429, 4503, ...) and the reason, which a page can read; false answers the HTTP status before the upgrade,
    /// which a browser shows as 1006 without a reason.
    /// </summary>
    [ConfigurationKeyName("close_refusals")]
    public bool CloseRefusals { get; set; }
}

/// <summary>An AMQP exchange name: at most 255 UTF-8 bytes, no control characters; empty is the default exchange.</summary>
internal sealed class ExchangeName : IValueRule
{
    private ExchangeName()
    {
    }

    public static string? Check(string value) =>
        System.Text.Encoding.UTF8.GetByteCount(value) > 255 ? "must be at most 255 bytes"
        : value.Any(char.IsControl) ? $"must not contain control characters, got {ConfigText.Quote(value)}"
        : null;
}

/// <summary>The checks of <c>ws</c> that involve several keys, run with the rest of the configuration's checks.</summary>
internal static class WebSocketConfigCheck
{
    public static IEnumerable<ConfigProblem> Check(WebSocketTransportOptions ws, ConfigOrigins origins)
    {
        // The default exchange delivers to the queue named by the routing key: a key that is all the client's
        // would let it write into any queue (another user's included); a literal prefix keeps it to its part.
        if (ws.PublishExchange.Length == 0 && (ws.PublishRoutingKey.Length == 0 || ws.PublishRoutingKey.StartsWith("${", StringComparison.Ordinal)))
        {
            yield return new ConfigProblem(origins.Of("ws:publish_exchange"), "ws.publish_exchange",
                "the default exchange ('') routes by queue name: ws.publish_routing_key must then start with literal text (e.g. chat.${to}), so that clients write only into queues under it");
        }
        else if (ws.PublishExchange.Length == 0 && LiteralPrefix(ws.PublishRoutingKey) is { } prefix
            && ("amq.".StartsWith(prefix, StringComparison.OrdinalIgnoreCase) || prefix.StartsWith("amq.", StringComparison.OrdinalIgnoreCase)))
        {
            // As queue.bind's exchanges: literal text that may begin amq. leaves the client the broker's own names, here the
            // server-named queues (amq.gen-...) other applications receive their RPC replies in, and amq.rabbitmq.reply-to.
            yield return new ConfigProblem(origins.Of("ws:publish_routing_key"), "ws.publish_routing_key",
                $"the default exchange ('') routes by queue name, and {ConfigText.Quote(prefix)} may begin 'amq.': clients would write into the broker's server-named queues (amq.gen-..., other applications' replies) and amq.rabbitmq.reply-to; start with other text (e.g. chat.${{to}})");
        }
    }

    /// <summary>The template's literal text before its first placeholder, or null when it does not parse (its own rule reports that).</summary>
    private static string? LiteralPrefix(string template)
    {
        try
        {
            return RoutingKeyTemplate.Parse(template).LiteralPrefix;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>
    /// Clients publishing to <c>events.exchange</c>, with routing keys that a binding of presence events may match: a
    /// client would announce anyone's subscription, any <c>subject</c> included, in events that look exactly like the
    /// gateway's own (the same type, <c>app_id</c> and a routing key the binding takes). Events are routed by
    /// <c>EVENT.KIND.NAME</c> and bound by their first word (<c>subscribed.</c>) or, as the README shows, their second
    /// (<c>*.topic.room-7</c>): the template's literal text must settle both words, the first no event and the second no kind.
    /// Before, <c>chat.${to}</c> passed, and <c>{"to": "topic.room-7"}</c> reached a service bound to <c>*.topic.room-7</c>.
    /// </summary>
    public static IEnumerable<ConfigProblem> CheckPresence(WebSocketTransportOptions ws, Presence.PresenceOptions events, ConfigOrigins origins)
    {
        if (!ws.Publish || events.Exchange.Length == 0 || !string.Equals(ws.PublishExchange, events.Exchange, StringComparison.Ordinal))
        {
            yield break;
        }

        string prefix;
        try
        {
            prefix = RoutingKeyTemplate.Parse(ws.PublishRoutingKey).LiteralPrefix;
        }
        catch (FormatException)
        {
            // The template's own rule reports it.
            yield break;
        }

        var words = prefix.Split('.');
        if (words.Length < 3 || Presence.PresencePublisher.Events.Contains(words[0], StringComparer.Ordinal) || words[1] is Consuming.QueueTarget.KindName or Topics.TopicTarget.KindName)
        {
            // Named where a source set it; the default ${to} at the ws.publish that turned publishing on.
            var where = origins.Of("ws:publish_routing_key") is var set && set != ConfigLocation.Options ? set : origins.Of("ws:publish");
            yield return new ConfigProblem(where, "ws.publish_routing_key",
                $"clients publish to {ConfigText.Quote(events.Exchange)}, which is also events.exchange: ws.publish_routing_key must then start with two words of literal text, the first no event ('subscribed', 'unsubscribed') and the second no kind ('queue', 'topic'), e.g. chat.msg.${{to}}, so that no client can publish what a binding of the gateway's events (subscribed.#, *.topic.NAME) takes for one");
        }
    }
}
