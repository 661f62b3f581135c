using System.Buffers;
using System.Text;
using Eventsourced.Configuration;
using Eventsourced.Naming;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Consuming;

/// <summary>
/// One <c>queue.bind</c> entry, <c>EXCHANGE:TYPE:ROUTING_KEY</c>: at subscribe the gateway declares the exchange
/// (TYPE <c>direct</c>, <c>fanout</c> or <c>topic</c>; an existing exchange is taken as it is) and binds the client's
/// queue to it with the routing key (which a fanout exchange ignores, and may be left out: <c>news:fanout</c>).
/// EXCHANGE and ROUTING_KEY may use the placeholders of <c>queue.pattern</c> (<c>user.${query:id}</c>); the first two
/// colons outside a placeholder separate the parts, so an exchange name cannot contain a colon, a routing key can.
/// </summary>
public sealed class QueueBinding : IValueRule
{
    private static readonly string[] Types = ["direct", "fanout", "topic"];

    /// <summary>A topic exchange's wildcards: from a request, <c>?id=#</c> would bind <c>user.#</c>, everyone's messages.</summary>
    private static readonly SearchValues<char> TopicWildcards = SearchValues.Create("*#");

    private QueueBinding(QueuePattern exchange, string type, QueuePattern routingKey)
    {
        Exchange = exchange;
        Type = type;
        RoutingKey = routingKey;
    }

    public QueuePattern Exchange { get; }

    /// <summary><c>direct</c>, <c>fanout</c> or <c>topic</c>.</summary>
    public string Type { get; }

    public QueuePattern RoutingKey { get; }

    /// <exception cref="FormatException">Not <c>EXCHANGE:TYPE[:ROUTING_KEY]</c>, an unknown type, an empty exchange, or a bad placeholder.</exception>
    public static QueueBinding Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = SplitOutsidePlaceholders(text, 3);
        if (parts.Count < 2)
        {
            throw new FormatException($"expected EXCHANGE:TYPE:ROUTING_KEY (e.g. users:topic:user.${{query:id}}), got {ConfigText.Quote(text)}");
        }

        var exchange = QueuePattern.ParseText(parts[0]);
        if (exchange.Segments.Count == 0)
        {
            throw new FormatException($"the exchange is empty in {ConfigText.Quote(text)} (the default exchange cannot be bound to)");
        }

        if (ClientChosenExchangeProblem(exchange) is { } problem)
        {
            throw new FormatException($"{problem} in {ConfigText.Quote(text)}");
        }

        var type = parts[1].Trim().ToLowerInvariant();
        if (!Types.Contains(type))
        {
            throw new FormatException(type == "headers"
                ? "headers exchanges need binding arguments, which queue.bind does not take; use direct, fanout or topic"
                : $"unknown exchange type {ConfigText.Quote(parts[1])} (use direct, fanout or topic)");
        }

        var routingKey = QueuePattern.ParseText(parts.Count > 2 ? parts[2] : string.Empty);
        if (routingKey.HasPlaceholders && exchange.Segments is [{ Kind: PatternSegmentKind.Literal, Value: var name }]
            && QueueBindings.BrokerExchangeTypes.TryGetValue(name, out var actual) && QueueBindings.IgnoresRoutingKeys(type, actual))
        {
            // Bound, every client's queue would get every message sent to it (a headers binding without arguments matches all).
            throw new FormatException($"{name} is the broker's {actual} exchange: it ignores routing keys, and every client's queue would get the messages meant for the others; use another exchange, or type fanout and a key of literal text for a broadcast");
        }

        return new QueueBinding(exchange, type, routingKey);
    }

    /// <summary>
    /// Why an exchange name would let a client bind its queue to exchanges that are not meant for it, or null. Query
    /// and cookie values are the client's free choice (tokens authorize the queue, never the exchange): with nothing
    /// fixed before the first of them the client picks any exchange of the vhost, another application's or the broker's
    /// own (<c>amq.rabbitmq.trace</c> and <c>amq.rabbitmq.log</c> carry what every connection publishes and logs), and
    /// with literal text that begins <c>amq.</c> it can still reach the broker's. A claim is the token issuer's choice.
    /// </summary>
    private static string? ClientChosenExchangeProblem(QueuePattern exchange)
    {
        var fixedText = new StringBuilder();
        var claim = false;
        foreach (var segment in exchange.Segments)
        {
            switch (segment.Kind)
            {
                case PatternSegmentKind.Literal:
                    fixedText.Append(segment.Value);
                    break;
                case PatternSegmentKind.Claim:
                    claim = true;
                    break;
                default:
                    var start = fixedText.ToString();
                    if (start.Length == 0 && !claim)
                    {
                        return "the exchange would be the client's choice (it starts with a query or cookie value): any exchange of the vhost, other applications' too; put text of its own first (room-${query:room})";
                    }

                    if (!claim && ("amq.".StartsWith(start, StringComparison.OrdinalIgnoreCase) || start.StartsWith("amq.", StringComparison.OrdinalIgnoreCase)))
                    {
                        return "a query or cookie value would choose among the broker's own amq.* exchanges (amq.rabbitmq.trace carries what every connection publishes); put other text first";
                    }

                    return null;
            }
        }

        return null;
    }

    static string? IValueRule.Check(string value)
    {
        try
        {
            _ = Parse(value);
            return null;
        }
        catch (FormatException ex)
        {
            return ex.Message;
        }
    }

    /// <summary>The binding for <paramref name="request"/>: placeholders replaced, names checked; false with a reason for a 400.</summary>
    internal bool TryResolve(HttpRequest request, out ResolvedBinding binding, out string reason)
    {
        binding = default;
        if (!QueueNameResolver.TryExpand(Exchange, request, out var exchange, out reason)
            || !QueueNameResolver.TryExpand(RoutingKey, request, out var routingKey, out reason, Type == "topic" ? TopicWildcards : null))
        {
            return false;
        }

        // A direct or fanout binding may take '*' and '#' from the request: they are plain characters there. Unless the
        // exchange turns out to be a topic exchange after all (it exists with another type, or is one of the broker's
        // own): QueueBindings refuses the binding then, with this reason.
        var wildcard = Type != "topic" && !QueueNameResolver.TryExpand(RoutingKey, request, out _, out var wildcardReason, TopicWildcards)
            ? wildcardReason
            : null;

        reason = Problem("exchange", exchange) ?? Problem("routing key", routingKey) ?? string.Empty;
        if (exchange.Length == 0)
        {
            reason = "empty exchange name in a queue binding";
        }

        if (reason.Length > 0)
        {
            return false;
        }

        binding = new ResolvedBinding(exchange, Type, routingKey, wildcard, RoutingKey.HasPlaceholders);
        return true;
    }

    public override string ToString() => $"{Exchange}:{Type}:{RoutingKey}";

    private static string? Problem(string what, string value) =>
        Encoding.UTF8.GetByteCount(value) > 255 ? $"{what} of a queue binding longer than 255 bytes"
        : value.AsSpan().ContainsAnyInRange('\u0000', '\u001f') || value.AsSpan().ContainsAnyInRange('\u007f', '\u009f') ? $"{what} of a queue binding contains control characters"
        : null;

    /// <summary>Splits at colons outside <c>${...}</c>, into at most <paramref name="max"/> parts (the last keeps its colons).</summary>
    private static List<string> SplitOutsidePlaceholders(string text, int max)
    {
        var parts = new List<string>();
        var start = 0;
        var depth = 0;
        for (var i = 0; i < text.Length && parts.Count < max - 1; i++)
        {
            if (text[i] == '$' && i + 1 < text.Length && text[i + 1] == '{')
            {
                depth++;
                i++;
            }
            else if (text[i] == '}' && depth > 0)
            {
                depth--;
            }
            else if (text[i] == ':' && depth == 0)
            {
                parts.Add(text[start..i]);
                start = i + 1;
            }
        }

        parts.Add(text[start..]);
        return parts;
    }
}

/// <summary>A <see cref="QueueBinding"/> for one request.</summary>
/// <param name="RequestWildcard">
/// Null, or why the routing key cannot be bound should the exchange be a topic exchange: a value of the request put
/// one of its wildcards (<c>*</c>, <c>#</c>) into it. Set only for direct and fanout bindings (a topic binding with
/// such a value is not resolved at all).
/// </param>
/// <param name="KeyPerRequest">
/// The routing key has placeholders (<c>user.${claim:sub}</c>): it differs between clients, so an exchange that ignores
/// routing keys (fanout, headers) would give each client's queue what is meant for the others.
/// </param>
internal readonly record struct ResolvedBinding(string Exchange, string Type, string RoutingKey, string? RequestWildcard = null, bool KeyPerRequest = false);
