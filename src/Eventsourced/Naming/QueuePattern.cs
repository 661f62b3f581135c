using System.Buffers;
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

    /// <exception cref="FormatException">A claim stands next to another placeholder without a separator (<see cref="ClaimSeparators"/>).</exception>
    private QueuePattern(IReadOnlyList<PatternSegment> segments)
    {
        Segments = segments;
        _glob = string.Concat(segments.Select(s => s.Kind == PatternSegmentKind.Literal ? s.Value : "\0"));
        _placeholderAt = [.. segments.SelectMany(s => s.Kind == PatternSegmentKind.Literal ? s.Value.Select(_ => false) : [true])];
        Separators = ClaimSeparators(segments);
    }

    /// <summary>The pieces in order; adjacent literal text is one segment.</summary>
    public IReadOnlyList<PatternSegment> Segments { get; }

    /// <summary>
    /// Per segment: the characters that a value put there must not contain (null: any), so that no two tokens build the
    /// same text (<see cref="ClaimSeparators"/>).
    /// </summary>
    internal IReadOnlyList<SearchValues<char>?> Separators { get; }

    /// <summary>
    /// What keeps a claim's part of a name apart from the request's (or another claim's) parts: the punctuation of the
    /// literal text between them. Without a rule the gateway cannot tell which part of <c>user-12-5-inbox</c> came from
    /// the token (<c>user-${claim:sub}-${query:id}</c>: sub <c>12</c> asking for <c>5-inbox</c>, or sub <c>12-5</c> asking
    /// for <c>inbox</c>), and one token opened another's queue. So a claim's value must not contain the separators on
    /// either side of it; and when it has placeholders on both sides, the values before it must not contain its left
    /// separators either (else <c>${query:a}.${claim:sub}.${query:b}</c> reads <c>x.y.z.w</c> as sub <c>y</c> or <c>z</c>).
    /// Then every separator character left of a claim comes from the literal text, and the claim's place in a name is
    /// fixed. A claim next to another placeholder with no punctuation between them cannot be kept apart: a configuration
    /// error. Written by hand: no library parses these patterns. <c>ws.publish_routing_key</c> keeps its claims apart from
    /// the client's <c>${to}</c> by the same rule.
    /// </summary>
    /// <exception cref="FormatException">A claim stands next to another placeholder without punctuation between them.</exception>
    internal static SearchValues<char>?[] ClaimSeparators(IReadOnlyList<PatternSegment> segments)
    {
        var forbidden = new HashSet<char>?[segments.Count];
        for (var i = 0; i < segments.Count; i++)
        {
            if (segments[i].Kind != PatternSegmentKind.Claim)
            {
                continue;
            }

            var left = Separator(segments, i, -1);
            var right = Separator(segments, i, +1);
            foreach (var side in new[] { left, right })
            {
                if (side is not null)
                {
                    (forbidden[i] ??= []).UnionWith(side);
                }
            }

            if (left is not null && right is not null)
            {
                for (var j = 0; j < i; j++)
                {
                    if (segments[j].Kind != PatternSegmentKind.Literal)
                    {
                        (forbidden[j] ??= []).UnionWith(left);
                    }
                }
            }
        }

        return [.. forbidden.Select(f => f is null ? null : SearchValues.Create([.. f.Order()]))];
    }

    /// <summary>
    /// The punctuation of the literal text between the claim at <paramref name="claim"/> and the nearest placeholder in
    /// <paramref name="direction"/>, or null when only literal text (or nothing) lies that way.
    /// </summary>
    private static HashSet<char>? Separator(IReadOnlyList<PatternSegment> segments, int claim, int direction)
    {
        var next = claim + direction;
        if (next < 0 || next >= segments.Count)
        {
            return null;
        }

        var literal = segments[next].Kind == PatternSegmentKind.Literal ? segments[next].Value : string.Empty;
        var beyond = literal.Length > 0 ? next + direction : next;
        if (beyond < 0 || beyond >= segments.Count)
        {
            return null;
        }

        var punctuation = literal.Where(c => !char.IsLetterOrDigit(c)).ToHashSet();
        return punctuation.Count > 0
            ? punctuation
            : throw new FormatException(
                $"'{segments[claim]}' stands next to '{segments[beyond]}' with {(literal.Length == 0 ? "nothing" : $"only '{literal}'")} between them: two tokens could build the same name; put a separator between them that no value of the claim contains ('.', ':', '-')");
    }

    /// <summary>Whether a part of every name comes from the token's claims (<c>${claim:NAME}</c>).</summary>
    public bool UsesClaims => Segments.Any(s => s.Kind == PatternSegmentKind.Claim);

    /// <summary>Whether a part of the text comes from the request or its token (a placeholder), so that it can differ between clients.</summary>
    public bool HasPlaceholders => Segments.Any(s => s.Kind != PatternSegmentKind.Literal);

    /// <summary>Why a placeholder that reads the subscriber's token may not build names.</summary>
    internal const string TokenInNames = "names built from it would carry tokens into the broker and the log; build them from its claims (${claim:sub})";

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
        if (kind == PatternSegmentKind.Query && name.Equals(Authentication.SubscriberAuthenticator.QueryParameter, StringComparison.OrdinalIgnoreCase))
        {
            // The token would stand in every name built from it: in the broker's queue list and in the log's queue names.
            throw new FormatException($"'${{{body}}}' reads the subscriber's token (auth.from_query): {TokenInNames}");
        }

        return name.Length > 0 ? new(kind, name) : throw new FormatException($"empty name in '${{{body}}}'");
    }
}
