using System.Text;
using Eventsourced.Configuration;

namespace Eventsourced.Naming;

/// <summary>
/// A parsed <c>queue.pattern</c>: literal text and <c>${query:NAME}</c> / <c>${cookie:NAME}</c> / <c>${claim:NAME}</c>
/// placeholders (a claim of the request's verified token, <c>auth</c>).
/// All whitespace is removed first, as the original did; a <c>$</c> not followed by <c>{</c> is literal text.
/// Resolving a pattern against a request is the streaming code's business.
/// </summary>
public sealed class QueuePattern : IValueRule
{
    /// <summary>The pattern as a glob for <see cref="CouldName"/>: the literal text, one position per placeholder (marked in <see cref="_placeholderAt"/>).</summary>
    private readonly string _glob;
    private readonly bool[] _placeholderAt;

    private QueuePattern(IReadOnlyList<PatternSegment> segments)
    {
        Segments = segments;
        _glob = string.Concat(segments.Select(s => s.Kind == PatternSegmentKind.Literal ? s.Value : "\0"));
        _placeholderAt = [.. segments.SelectMany(s => s.Kind == PatternSegmentKind.Literal ? s.Value.Select(_ => false) : [true])];
    }

    /// <summary>The pieces in order; adjacent literal text is one segment.</summary>
    public IReadOnlyList<PatternSegment> Segments { get; }

    /// <summary>Whether a part of every name comes from the token's claims (<c>${claim:NAME}</c>).</summary>
    public bool UsesClaims => Segments.Any(s => s.Kind == PatternSegmentKind.Claim);

    /// <summary>The cookies a part of the name comes from (<c>${cookie:NAME}</c>).</summary>
    public IEnumerable<string> Cookies => Segments.Where(s => s.Kind == PatternSegmentKind.Cookie).Select(s => s.Value);

    /// <exception cref="FormatException">Empty, an unclosed <c>${</c>, an unknown source or an empty name.</exception>
    public static QueuePattern Parse(string pattern)
    {
        var segments = ParseSegments(pattern);
        if (segments.Count == 0)
        {
            throw new FormatException("queue pattern is empty");
        }

        if (segments[0] is { Kind: PatternSegmentKind.Literal } first)
        {
            if (first.Value.StartsWith("amq.", StringComparison.Ordinal))
            {
                throw new FormatException("queue names starting with 'amq.' are reserved by the broker");
            }

            if (first.Value.StartsWith(QueueNameResolver.ReservedPrefix, StringComparison.Ordinal))
            {
                throw new FormatException($"queue names starting with '{QueueNameResolver.ReservedPrefix}' are reserved for the gateway's lock queues");
            }
        }

        return new QueuePattern(segments);
    }

    /// <summary>
    /// Text with the same placeholders that is not a queue name (an exchange, a routing key): it may be empty
    /// and may start with <c>amq.</c>.
    /// </summary>
    /// <exception cref="FormatException">An unclosed <c>${</c>, an unknown source or an empty name.</exception>
    public static QueuePattern ParseText(string text) => new(ParseSegments(text));

    private static List<PatternSegment> ParseSegments(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        var text = string.Concat(pattern.Where(c => !char.IsWhiteSpace(c)));
        var segments = new List<PatternSegment>();
        var literal = new StringBuilder();
        for (var i = 0; i < text.Length;)
        {
            if (!text.AsSpan(i).StartsWith("${", StringComparison.Ordinal))
            {
                literal.Append(text[i++]);
                continue;
            }

            var close = text.IndexOf('}', i + 2);
            var nested = text.IndexOf("${", i + 2, StringComparison.Ordinal);
            if (close < 0 || (nested >= 0 && nested < close))
            {
                throw new FormatException($"unclosed '${{' in '{text[i..]}'");
            }

            if (literal.Length > 0)
            {
                segments.Add(new(PatternSegmentKind.Literal, literal.ToString()));
                literal.Clear();
            }

            segments.Add(Placeholder(text[(i + 2)..close]));
            i = close + 1;
        }

        if (literal.Length > 0)
        {
            segments.Add(new(PatternSegmentKind.Literal, literal.ToString()));
        }

        return segments;
    }

    /// <summary><c>queue.pattern</c>: a problem message, or null for a pattern <see cref="Parse"/> takes.</summary>
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

    /// <summary>Whether the pattern has text of its own, which every name it gives has (else a request names the whole queue).</summary>
    public bool HasLiteralText => Segments.Any(s => s.Kind == PatternSegmentKind.Literal && s.Value.Length > 0);

    /// <summary>
    /// Whether some request could resolve the pattern to <paramref name="name"/>: its literal text where it stands, any
    /// run of characters (even none, to err on the safe side) for each placeholder (<see cref="Glob"/>).
    /// </summary>
    public bool CouldName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return Glob.Matches(_glob, p => _placeholderAt[p], name);
    }

    /// <summary>The normalised pattern: whitespace removed, placeholders as <c>${source:NAME}</c>.</summary>
    public override string ToString() => string.Concat(Segments);

    private static PatternSegment Placeholder(string body)
    {
        var colon = body.IndexOf(':', StringComparison.Ordinal);
        var source = colon < 0 ? body : body[..colon];
        var kind = source switch
        {
            "query" => PatternSegmentKind.Query,
            "cookie" => PatternSegmentKind.Cookie,
            "claim" => PatternSegmentKind.Claim,
            _ => throw new FormatException($"unknown source '{source}' in '${{{body}}}' (use ${{query:NAME}}, ${{cookie:NAME}} or ${{claim:NAME}})"),
        };
        var name = colon < 0 ? string.Empty : body[(colon + 1)..];
        return name.Length > 0 ? new(kind, name) : throw new FormatException($"empty name in '${{{body}}}'");
    }
}
