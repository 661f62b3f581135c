using System.Buffers;
using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Naming;

/// <summary>
/// Builds a subscriber's queue name from <c>queue.pattern</c> and the request, and rejects names the
/// broker would refuse or that could not be meant: missing parts, parts given twice or not validly
/// percent-encoded (<see cref="RequestValues"/>), empty, over 255 UTF-8 bytes, the reserved <c>amq.</c>
/// prefix, the gateway's own lock queues' prefix (<see cref="ReservedPrefix"/>), control characters, and
/// characters that make a name look like another (invisible ones, bidirectional controls, spaces other than
/// U+0020).
/// </summary>
internal sealed class QueueNameResolver(QueuePattern pattern)
{
    public const int MaxQueueNameBytes = 255;

    /// <summary>The names of the gateway's lock queues (<c>Consuming.QueueLock</c>): never a subscriber's queue.</summary>
    public const string ReservedPrefix = "eventsourced.lock.";

    public bool TryResolve(HttpRequest request, out string queueName, out string reason)
    {
        if (!TryExpand(pattern, request, out queueName, out reason))
        {
            return false;
        }

        if (QueueNameRules.Check(queueName) is { } problem)
        {
            return Fail(problem, out queueName, out reason);
        }

        reason = string.Empty;
        return true;
    }

    /// <summary>
    /// The text of <paramref name="pattern"/> for <paramref name="request"/>: placeholders replaced by the request's
    /// values (and the token's claims), not checked as a queue name; false with a reason when a value is missing or
    /// ambiguous. With <paramref name="forbidden"/>, also when a value from the request or the token contains one of
    /// those characters (literal text may: the operator wrote it).
    /// </summary>
    public static bool TryExpand(QueuePattern pattern, HttpRequest request, out string text, out string reason, SearchValues<char>? forbidden = null)
    {
        var name = new StringBuilder();
        for (var i = 0; i < pattern.Segments.Count; i++)
        {
            var segment = pattern.Segments[i];
            var separators = pattern.Separators[i];
            switch (segment.Kind)
            {
                case PatternSegmentKind.Literal:
                    name.Append(segment.Value);
                    break;
                case PatternSegmentKind.Query:
                    if (Problem(RequestValues.Query(request, segment.Value, out var parameter), "query parameter", segment.Value) is { } queryProblem)
                    {
                        return Fail(queryProblem, out text, out reason);
                    }

                    if ((Separating(parameter, separators, "query parameter", segment.Value) ?? Forbidden(parameter, forbidden, "query parameter", segment.Value) ?? EdgeSpace(parameter, "query parameter", segment.Value)) is { } queryCharacters)
                    {
                        return Fail(queryCharacters, out text, out reason);
                    }

                    name.Append(parameter);
                    break;
                case PatternSegmentKind.Cookie:
                    if (Problem(RequestValues.Cookie(request, segment.Value, out var cookie), "cookie", segment.Value) is { } cookieProblem)
                    {
                        return Fail(cookieProblem, out text, out reason);
                    }

                    if ((Separating(cookie, separators, "cookie", segment.Value) ?? Forbidden(cookie, forbidden, "cookie", segment.Value) ?? EdgeSpace(cookie, "cookie", segment.Value)) is { } cookieCharacters)
                    {
                        return Fail(cookieCharacters, out text, out reason);
                    }

                    name.Append(cookie);
                    break;
                case PatternSegmentKind.Claim:
                    if (RequestValues.Claim(request, segment.Value, out var claim) is { } claimProblem)
                    {
                        return Fail(claimProblem, out text, out reason);
                    }

                    if ((Separating(claim, separators, RequestValues.ClaimLabel(request), segment.Value) ?? Forbidden(claim, forbidden, RequestValues.ClaimLabel(request), segment.Value) ?? EdgeSpace(claim, RequestValues.ClaimLabel(request), segment.Value)) is { } claimCharacters)
                    {
                        return Fail(claimCharacters, out text, out reason);
                    }

                    name.Append(claim);
                    break;
            }
        }

        text = name.ToString();
        reason = string.Empty;
        return true;
    }

    /// <summary>
    /// Characters that do not show, or change how the others show, so that two names look alike: format
    /// characters (zero-width spaces and joiners, bidirectional marks, overrides and isolates, the byte order mark,
    /// the soft hyphen, tags), line and paragraph separators, spaces other than U+0020, variation selectors and the
    /// blank fillers of Hangul and Khmer. Visible text of any script passes, decomposed accents included.
    /// </summary>
    internal static bool HasInvisibleCharacters(string name)
    {
        if (Ascii.IsValid(name))
        {
            return false;
        }

        for (var i = 0; i < name.Length; i++)
        {
            var rune = Rune.GetRuneAt(name, i);
            if (rune.Utf16SequenceLength == 2)
            {
                i++;
            }

            if (IsInvisible(rune))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsInvisible(Rune rune)
    {
        var value = rune.Value;
        return Rune.GetUnicodeCategory(rune) switch
        {
            UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator => true,
            UnicodeCategory.SpaceSeparator => value != ' ',
            _ => value is (>= 0xFE00 and <= 0xFE0F) or (>= 0xE0100 and <= 0xE01EF) // variation selectors
                or 0x034F // combining grapheme joiner
                or 0x115F or 0x1160 or 0x3164 or 0xFFA0 // Hangul fillers
                or 0x17B4 or 0x17B5 // Khmer inherent vowels
                or 0x180E // Mongolian vowel separator
                or 0x2800, // Braille blank
        };
    }

    /// <summary>Why a value taken from the request cannot be used (null when it can); the publish routing key reads values the same way.</summary>
    internal static string? Problem(RequestValueStatus status, string what, string name) => status switch
    {
        RequestValueStatus.Found => null,
        RequestValueStatus.Missing => $"missing {what} '{name}'",
        RequestValueStatus.Repeated => $"{what} '{name}' given more than once",
        _ => $"{what} '{name}' is not valid percent-encoded UTF-8",
    };

    /// <summary>Why a value cannot stand where the pattern keeps a claim apart with <paramref name="separators"/> (<see cref="QueuePattern.Separators"/>).</summary>
    internal static string? Separating(string value, SearchValues<char>? separators, string what, string name, string built = "name") =>
        separators is not null && value.AsSpan().IndexOfAny(separators) is var at and >= 0
            ? $"{what}{(name.Length > 0 ? $" '{name}'" : string.Empty)} must not contain '{value[at]}': the pattern separates a token's claim with it, and two tokens could build the same {built}"
            : null;

    /// <summary>Why a value from the request or the token cannot go into a name: a space at either end (<see cref="QueueNameRules.EdgeSpace"/>).</summary>
    internal static string? EdgeSpace(string value, string what, string name) =>
        QueueNameRules.EdgeSpace(value, name.Length > 0 ? $"{what} '{name}'" : what);

    private static string? Forbidden(string value, SearchValues<char>? forbidden, string what, string name) =>
        forbidden is not null && value.AsSpan().IndexOfAny(forbidden) is var at and >= 0
            ? $"{what} '{name}' must not contain '{value[at]}' (a wildcard of the topic exchange it binds to)"
            : null;

    private static bool Fail(string why, out string queueName, out string reason)
    {
        queueName = string.Empty;
        reason = why;
        return false;
    }
}
