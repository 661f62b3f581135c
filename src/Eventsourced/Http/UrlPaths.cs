using Eventsourced.Configuration;

namespace Eventsourced.Http;

/// <summary>
/// <c>server.path</c>: an absolute URL path, without spaces, control characters, a query or a fragment, and
/// without route syntax (<c>{</c>, <c>}</c>), which would make ASP.NET's routing fail at start.
/// </summary>
internal sealed class UrlPath : IValueRule
{
    private UrlPath()
    {
    }

    public static string? Check(string path) => Characters(path) ?? RouteSyntax(path);

    /// <summary>Where the path starts and which characters it has.</summary>
    public static string? Characters(string path) =>
        !path.StartsWith('/') ? $"must start with '/', got {ConfigText.Quote(path)}"
        : path.Any(c => c <= ' ' || c == '\u007f' || c == '?' || c == '#') ? $"must not contain spaces, control characters, '?' or '#', got {ConfigText.Quote(path)}"
        : path.Any(c => c > '\u007f') ? $"must be ASCII (percent-encode other characters), got {ConfigText.Quote(path)}"
        : null;

    /// <summary>Braces would be read as route parameters.</summary>
    public static string? RouteSyntax(string path) =>
        path.AsSpan().IndexOfAny('{', '}') >= 0 ? $"must not contain '{{' or '}}', got {ConfigText.Quote(path)}" : null;
}

/// <summary>An observability endpoint's path: empty (switched off) or a <see cref="UrlPath"/>.</summary>
internal sealed class EndpointPath : IValueRule
{
    private EndpointPath()
    {
    }

    public static string? Check(string path) =>
        path.Length == 0 ? null
        : UrlPath.Characters(path) is { } problem ? problem + " (or empty to switch the endpoint off)"
        : UrlPath.RouteSyntax(path);
}

/// <summary>An HTTP header name: an RFC 9110 token.</summary>
internal sealed class HeaderName : IValueRule
{
    private HeaderName()
    {
    }

    public static string? Check(string name) =>
        name.Length > 0 && name.All(IsTokenChar)
            ? null
            : $"invalid header name {ConfigText.Quote(name)} (allowed: letters, digits and !#$%&'*+-.^_`|~)";

    private static bool IsTokenChar(char c) => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal);
}

/// <summary>
/// An HTTP header value: visible ASCII, spaces and tabs. Kestrel refuses anything else in a response
/// header, so such a value would turn every answer into a 500.
/// </summary>
internal sealed class HeaderValue : IValueRule
{
    private HeaderValue()
    {
    }

    public static string? Check(string value) =>
        value.Any(c => (c < ' ' && c != '\t') || c == '\u007f')
            ? $"value must not contain CR, LF or other control characters, got {ConfigText.Quote(value)}"
            : value.Any(c => c > '\u007f')
                ? $"value must be ASCII (HTTP servers refuse other characters in headers), got {ConfigText.Quote(value)}"
                : null;
}
