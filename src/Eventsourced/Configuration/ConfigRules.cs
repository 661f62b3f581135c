using System.Globalization;
using Eventsourced.Broker;
using Eventsourced.Naming;

namespace Eventsourced.Configuration;

/// <summary>Checks of single values. Each returns a problem message, or null when the value is fine.</summary>
internal static class ConfigRules
{
    /// <summary>A whole number from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public static string? Integer(string text, int min, int max, out int value)
    {
        value = 0;
        var trimmed = text.Trim();
        var digits = trimmed.StartsWith('-') || trimmed.StartsWith('+') ? trimmed[1..] : trimmed;
        if (digits.Length == 0 || !digits.All(char.IsAsciiDigit))
        {
            return $"expected a whole number, got {ConfigText.Quote(text)}";
        }

        if (!long.TryParse(trimmed, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number) || number < min || number > max)
        {
            return $"must be from {min} to {max}, got {trimmed}";
        }

        value = (int)number;
        return null;
    }

    /// <summary><c>server.path</c>: an absolute URL path.</summary>
    public static string? UrlPath(string path)
    {
        if (!path.StartsWith('/'))
        {
            return $"must start with '/', got {ConfigText.Quote(path)}";
        }

        return path.Any(c => c <= ' ' || c == '\u007f' || c == '?' || c == '#')
            ? $"must not contain spaces, control characters, '?' or '#', got {ConfigText.Quote(path)}"
            : null;
    }

    /// <summary><c>broker.node</c> entries.</summary>
    public static string? BrokerNode(string url)
    {
        try
        {
            _ = BrokerUrl.Parse(url);
            return null;
        }
        catch (FormatException ex)
        {
            return $"invalid broker URL: {ex.Message}";
        }
    }

    /// <summary>Prints a broker URL without its password; an unparsable one (set in code) is not printed at all.</summary>
    public static string MaskBrokerNode(string url) => BrokerUrl.TryParse(url, out var parsed) ? parsed.Masked : "***";

    /// <summary><c>queue.pattern</c>.</summary>
    public static string? Pattern(string pattern)
    {
        try
        {
            _ = QueuePattern.Parse(pattern);
            return null;
        }
        catch (FormatException ex)
        {
            return ex.Message;
        }
    }

    /// <summary>An HTTP header name: an RFC 7230 token.</summary>
    public static string? HeaderName(string name) =>
        name.Length > 0 && name.All(IsTokenChar)
            ? null
            : $"invalid header name {ConfigText.Quote(name)} (allowed: letters, digits and !#$%&'*+-.^_`|~)";

    /// <summary>An HTTP header value: no CR, LF or other control characters (tab is fine).</summary>
    public static string? HeaderValue(string value) =>
        value.Any(c => (c < ' ' && c != '\t') || c == '\u007f')
            ? $"value must not contain CR, LF or other control characters, got {ConfigText.Quote(value)}"
            : null;

    private static bool IsTokenChar(char c) => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal);
}
