using System.Buffers;
using System.Text;
using Eventsourced.Configuration;
using Eventsourced.Naming;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.WebSockets;

/// <summary>
/// <c>ws.publish_routing_key</c>: the routing key of a message a client publishes, from literal text,
/// <c>${to}</c> (the destination the client named), <c>${query:NAME}</c> and <c>${cookie:NAME}</c> (of
/// the request that opened the WebSocket, read as <c>queue.pattern</c> reads them) and <c>${claim:NAME}</c>
/// (of its verified token). A prefix (<c>chat.${to}</c>) keeps clients inside a part of the exchange's
/// routing keys; a claim (<c>user.${claim:sub}.${to}</c>) says who sent it in a way no client can forge: the
/// punctuation next to a claim keeps it apart from the other placeholders as in <c>queue.pattern</c>
/// (<see cref="QueuePattern.Separators"/>), so that sub <c>a</c> naming <c>b.c</c> cannot publish as sub <c>a.b</c> naming <c>c</c>.
/// </summary>
internal sealed class RoutingKeyTemplate : IValueRule
{
    /// <summary>AMQP's short string: a routing key is at most 255 bytes.</summary>
    public const int MaxBytes = 255;

    /// <summary>Why a placeholder that reads the subscriber's token may not build routing keys.</summary>
    internal const string TokenInRoutingKeys = "routing keys built from it would carry tokens to everyone who reads the exchange; build them from its claims (${claim:sub})";

    private readonly (Part Kind, string Value)[] _parts;

    /// <summary>Per part: the characters its value must not contain (<see cref="QueuePattern.ClaimSeparators"/>), null: any.</summary>
    private readonly SearchValues<char>?[] _separators;

    private RoutingKeyTemplate((Part Kind, string Value)[] parts)
    {
        _parts = parts;
        _separators = QueuePattern.ClaimSeparators([.. parts.Select(p => new PatternSegment(
            p.Kind switch
            {
                Part.Literal => PatternSegmentKind.Literal,
                Part.To => PatternSegmentKind.Destination,
                Part.Query => PatternSegmentKind.Query,
                Part.Cookie => PatternSegmentKind.Cookie,
                _ => PatternSegmentKind.Claim,
            },
            p.Value))]);
    }

    /// <summary>The literal text before the first placeholder: what every routing key of the template starts with.</summary>
    public string LiteralPrefix => _parts is [(Part.Literal, var text), ..] ? text : string.Empty;

    /// <summary>The cookies a part of the routing key comes from (<c>${cookie:NAME}</c>).</summary>
    public IEnumerable<string> Cookies => _parts.Where(p => p.Kind == Part.Cookie).Select(p => p.Value);

    private enum Part
    {
        Literal,
        To,
        Query,
        Cookie,
        Claim,
    }

    /// <exception cref="FormatException">An unclosed <c>${</c>, an unknown placeholder, no <c>${to}</c>, or a claim next to another placeholder without punctuation between them.</exception>
    public static RoutingKeyTemplate Parse(string template)
    {
        ArgumentNullException.ThrowIfNull(template);
        var parts = new List<(Part, string)>();
        var literal = new StringBuilder();
        for (var i = 0; i < template.Length;)
        {
            if (!template.AsSpan(i).StartsWith("${", StringComparison.Ordinal))
            {
                literal.Append(template[i++]);
                continue;
            }

            var close = template.IndexOf('}', i + 2);
            if (close < 0)
            {
                throw new FormatException($"unclosed '${{' in {ConfigText.Quote(template[i..])}");
            }

            if (literal.Length > 0)
            {
                parts.Add((Part.Literal, literal.ToString()));
                literal.Clear();
            }

            parts.Add(Placeholder(template[(i + 2)..close]));
            i = close + 1;
        }

        if (literal.Length > 0)
        {
            parts.Add((Part.Literal, literal.ToString()));
        }

        return parts.Any(p => p.Item1 == Part.To)
            ? new RoutingKeyTemplate([.. parts])
            : throw new FormatException("must contain ${to}, the destination the client names");
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

    /// <summary>The routing key for destination <paramref name="to"/> from a client of <paramref name="request"/>, or false with a reason.</summary>
    public bool TryResolve(string to, HttpRequest request, out string routingKey, out string reason)
    {
        routingKey = string.Empty;
        if (to.Length == 0)
        {
            reason = "empty destination";
            return false;
        }

        if (to.Any(char.IsControl))
        {
            reason = "destination contains control characters";
            return false;
        }

        if (QueueNameRules.EdgeSpace(to, "destination") is { } spaced)
        {
            reason = spaced;
            return false;
        }

        var key = new StringBuilder();
        for (var i = 0; i < _parts.Length; i++)
        {
            var (kind, value) = _parts[i];
            string? problem = null;
            var piece = value;
            switch (kind)
            {
                case Part.To:
                    problem = QueueNameResolver.Separating(to, _separators[i], "destination", string.Empty, "routing key");
                    piece = to;
                    break;
                case Part.Query:
                    problem = QueueNameResolver.Problem(RequestValues.Query(request, value, out piece), "query parameter", value)
                        ?? QueueNameResolver.Separating(piece, _separators[i], "query parameter", value, "routing key")
                        ?? QueueNameResolver.EdgeSpace(piece, "query parameter", value);
                    break;
                case Part.Cookie:
                    problem = QueueNameResolver.Problem(RequestValues.Cookie(request, value, out piece), "cookie", value)
                        ?? QueueNameResolver.Separating(piece, _separators[i], "cookie", value, "routing key")
                        ?? QueueNameResolver.EdgeSpace(piece, "cookie", value);
                    break;
                case Part.Claim:
                    problem = RequestValues.Claim(request, value, out piece)
                        ?? QueueNameResolver.Separating(piece, _separators[i], RequestValues.ClaimLabel(request), value, "routing key")
                        ?? QueueNameResolver.EdgeSpace(piece, RequestValues.ClaimLabel(request), value);
                    break;
            }

            if (problem is not null)
            {
                reason = problem;
                return false;
            }

            key.Append(piece);
        }

        routingKey = key.ToString();
        if (Encoding.UTF8.GetByteCount(routingKey) > MaxBytes)
        {
            reason = $"routing key longer than {MaxBytes} bytes";
            return false;
        }

        reason = string.Empty;
        return true;
    }

    private static (Part, string) Placeholder(string body)
    {
        if (body == "to")
        {
            return (Part.To, string.Empty);
        }

        var colon = body.IndexOf(':', StringComparison.Ordinal);
        var source = colon < 0 ? body : body[..colon];
        var name = colon < 0 ? string.Empty : body[(colon + 1)..];
        var kind = source switch
        {
            "query" => Part.Query,
            "cookie" => Part.Cookie,
            "claim" => Part.Claim,
            _ => throw new FormatException($"unknown placeholder '${{{body}}}' (use ${{to}}, ${{query:NAME}}, ${{cookie:NAME}} or ${{claim:NAME}})"),
        };
        if (kind == Part.Query && name.Equals(Authentication.SubscriberAuthenticator.QueryParameter, StringComparison.OrdinalIgnoreCase))
        {
            // As in queue.pattern: every message the client publishes would carry its token to whoever reads the exchange.
            throw new FormatException($"'${{{body}}}' reads the subscriber's token (auth.from_query): {TokenInRoutingKeys}");
        }

        return name.Length > 0 ? (kind, name) : throw new FormatException($"empty name in '${{{body}}}'");
    }
}
