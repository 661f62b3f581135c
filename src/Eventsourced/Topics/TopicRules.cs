using System.Globalization;
using Eventsourced.Configuration;
using Eventsourced.Http;
using Eventsourced.Naming;

namespace Eventsourced.Topics;

/// <summary><c>topics.path</c>: empty (topics off) or a URL path ending in <c>/</c>, the topic's name following it.</summary>
internal sealed class TopicsPath : IValueRule
{
    private TopicsPath()
    {
    }

    public static string? Check(string path) =>
        path.Length == 0 ? null
        : UrlPath.Check(path) is { } problem ? problem + " (or empty to switch topics off)"
        : !path.EndsWith('/') ? $"must end with '/' (the topic's name follows it), got {ConfigText.Quote(path)}"
        : null;
}

/// <summary><c>topics.prefix</c>: text a queue name may start with.</summary>
internal sealed class StreamPrefix : IValueRule
{
    private StreamPrefix()
    {
    }

    public static string? Check(string prefix) =>
        prefix.Length == 0 ? null
        : QueueNameRules.Check(prefix, "prefix", QueueNameRules.MaxBytes - 1) is { } problem ? problem
        : null;
}

/// <summary>A topic name or a pattern of names: <c>*</c> stands for any run of characters (also none).</summary>
internal sealed class TopicNamePattern : IValueRule
{
    private TopicNamePattern()
    {
    }

    public static string? Check(string pattern) =>
        pattern.AsSpan().ContainsAnyInRange('\u0000', '\u001f') || pattern.Contains('\u007f')
            ? $"must not contain control characters, got {ConfigText.Quote(pattern)}"
            : null;

    /// <summary>Whether <paramref name="name"/> matches <paramref name="pattern"/> (ordinal; <c>*</c> any run).</summary>
    public static bool Matches(string pattern, string name) => Glob.Matches(pattern, p => pattern[p] == '*', name);
}

/// <summary><c>topics.max_age</c>: RabbitMQ's <c>x-max-age</c>, a positive number and a unit (Y, M, D, h, m, s); empty for none.</summary>
internal sealed class StreamMaxAge : IValueRule
{
    private StreamMaxAge()
    {
    }

    public static string? Check(string age) =>
        age.Length == 0
        || (age.Length >= 2 && "YMDhms".Contains(age[^1], StringComparison.Ordinal) && age[..^1].All(char.IsAsciiDigit)
            && long.TryParse(age[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0)
            ? null
            : $"expected a number and a unit Y, M, D, h, m or s (7D, 12h), or empty for no limit, got {ConfigText.Quote(age)}";
}

/// <summary>
/// A number of bytes: digits, optionally with a unit, decimal (<c>kB</c>, <c>MB</c>, <c>GB</c>, <c>TB</c>) or
/// binary (<c>KiB</c>, <c>MiB</c>, <c>GiB</c>, <c>TiB</c>); empty or 0 for no limit.
/// </summary>
internal sealed class ByteSize : IValueRule
{
    private static readonly (string Unit, long Factor)[] Units =
    [
        ("KiB", 1L << 10), ("MiB", 1L << 20), ("GiB", 1L << 30), ("TiB", 1L << 40),
        ("kB", 1_000), ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000), ("B", 1),
    ];

    private ByteSize()
    {
    }

    public static string? Check(string size) =>
        TryParse(size, out _) ? null : $"expected bytes as digits with an optional unit (500MB, 2GiB), or empty for no limit, got {ConfigText.Quote(size)}";

    /// <summary>The size in bytes; 0 for none (empty).</summary>
    public static bool TryParse(string text, out long bytes)
    {
        bytes = 0;
        var trimmed = text.Trim();
        if (trimmed.Length == 0)
        {
            return true;
        }

        var (unit, factor) = Units.FirstOrDefault(u => trimmed.EndsWith(u.Unit, StringComparison.Ordinal));
        var digits = (unit is null ? trimmed : trimmed[..^unit.Length]).TrimEnd();
        if (digits.Length == 0 || !digits.All(char.IsAsciiDigit) || !long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            return false;
        }

        try
        {
            bytes = checked(number * (unit is null ? 1 : factor));
            return true;
        }
        catch (OverflowException)
        {
            return false;
        }
    }
}

/// <summary>The checks of <c>topics</c> that involve other keys, run with the rest of the configuration's checks.</summary>
internal static class TopicConfigCheck
{
    public static IEnumerable<ConfigProblem> Check(GatewayOptions options, ConfigOrigins origins)
    {
        var (topics, pattern) = (options.Topics, options.Queue.Pattern);
        if (topics.Path.Length == 0 || topics.Prefix.Length == 0 || TryParse(pattern) is not { } queues)
        {
            yield break;
        }

        // Every name the pattern gives would start with the prefix, and each subscription be refused (400).
        if (queues.Segments.Count > 0 && queues.Segments[0] is { Kind: PatternSegmentKind.Literal } first
            && first.Value.StartsWith(topics.Prefix, StringComparison.Ordinal))
        {
            var (key, path) = origins.Of("queue:pattern") == ConfigLocation.Options ? ("topics:prefix", "topics.prefix") : ("queue:pattern", "queue.pattern");
            yield return new ConfigProblem(origins.Of(key), path,
                $"queue names starting with topics.prefix {ConfigText.Quote(topics.Prefix)} are the names of topics' streams, but queue.pattern {ConfigText.Quote(pattern)} gives only such names: give one of them another prefix");
        }
    }

    private static QueuePattern? TryParse(string pattern)
    {
        try
        {
            return QueuePattern.Parse(pattern);
        }
        catch (FormatException)
        {
            // Reported as queue.pattern's own problem.
            return null;
        }
    }
}
