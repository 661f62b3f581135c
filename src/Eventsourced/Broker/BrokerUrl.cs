using System.Diagnostics.CodeAnalysis;
using Eventsourced.Configuration;

namespace Eventsourced.Broker;

/// <summary>
/// A parsed <c>broker.node</c> entry: <c>amqp[s]://[user[:password]@]host[:port][/vhost]</c>.
/// <see cref="Masked"/>, <see cref="Endpoint"/> and <see cref="ToString"/> never contain the password;
/// only <see cref="Uri"/> and <see cref="Password"/> do (they are for connecting, not for printing).
/// </summary>
public sealed class BrokerUrl : IValueRule
{
    private BrokerUrl(Uri uri, bool isTls, string host, int port, string virtualHost, string userName, string password, string masked, (string Shown, string Masked)[] credentials)
    {
        _credentials = credentials;
        Uri = uri;
        IsTls = isTls;
        Host = host;
        Port = port;
        VirtualHost = virtualHost;
        UserName = userName;
        Password = password;
        Masked = masked;
    }

    private readonly (string Shown, string Masked)[] _credentials;

    /// <summary>The URL as given, password included.</summary>
    public Uri Uri { get; }

    /// <summary>True for <c>amqps://</c>.</summary>
    public bool IsTls { get; }

    /// <summary>Host name or address; IPv6 addresses without brackets.</summary>
    public string Host { get; }

    /// <summary>The port given, else 5672 (<c>amqp</c>) or 5671 (<c>amqps</c>).</summary>
    public int Port { get; }

    /// <summary>Percent-decoded; <c>/</c> when the URL has no path.</summary>
    public string VirtualHost { get; }

    /// <summary>Percent-decoded; <c>guest</c> when the URL has no user.</summary>
    public string UserName { get; }

    /// <summary>Percent-decoded; <c>guest</c> when the URL has none.</summary>
    public string Password { get; }

    /// <summary>The URL with the password replaced by <c>***</c>.</summary>
    public string Masked { get; }

    /// <summary><c>host:port</c> (<c>[v6]:port</c>), for logs and metric labels.</summary>
    public string Endpoint => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    /// <summary>Same as <see cref="Masked"/>.</summary>
    public override string ToString() => Masked;

    /// <summary>
    /// <paramref name="text"/> (a client library's message) with the password replaced by <c>***</c> where it stands as
    /// credentials, the forms in which a library would echo it: <c>user:password</c> and <c>:password@</c>, decoded or as
    /// written in the URL. Not a bare occurrence: a password that is also a word of the text (the user's own name, as in
    /// guest:guest, or letters of the library's words) was masked there, which garbled the line (the broker's "refused
    /// for user '***'") and showed its reader where the password stands. A URL without a password has nothing to hide.
    /// </summary>
    public string Redact(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        foreach (var (shown, masked) in _credentials)
        {
            text = text.Replace(shown, masked, StringComparison.Ordinal);
        }

        return text;
    }

    /// <exception cref="FormatException">Not an absolute URL, another scheme, no host, a port outside 1-65535, a query or a fragment, a path of more than one segment, a '%' in the virtual host, the user or the password without two hex digits. The message never contains the password.</exception>
    public static BrokerUrl Parse(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        url = url.Trim();
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            // Uri refuses a port past 65535 too: name it rather than call the whole URL malformed.
            throw new FormatException(BadPort(url) is { } badPort
                ? $"port must be from 1 to 65535, got {badPort}"
                : "not an absolute URL (expected amqp://user:password@host:port/vhost)");
        }

        var isTls = uri.Scheme switch
        {
            "amqp" => false,
            "amqps" => true,
            _ => throw new FormatException($"unsupported scheme '{uri.Scheme}' (use amqp:// or amqps://)"),
        };
        if (uri.Host.Length == 0)
        {
            throw new FormatException("missing host");
        }

        if (uri.Port == 0)
        {
            throw new FormatException("port must be from 1 to 65535, got 0");
        }

        if (uri.Query.Length > 0 || uri.Fragment.Length > 0)
        {
            throw new FormatException("query parameters and fragments are not supported");
        }

        var rawPath = RawPath(url);
        if (rawPath.Contains('@', StringComparison.Ordinal))
        {
            // amqp://user:12345/abc@rabbit/ is a password with a '/' in it, which Uri reads as host "user", port 12345 and
            // virtual host "abc@rabbit/": accepted, the password was printed by -c as a virtual host. Named without the text.
            throw new FormatException("a '@' after the host: write a '/' in a password as %2F (and a '@' in a virtual host's name as %40)");
        }

        if (BrokenEscape(rawPath) is { } escaped)
        {
            // Uri takes a '%' without two hex digits as a literal '%' and escapes it (v%2 became v%252): the vhost would be
            // "v%2", which is more likely a typo than meant, and printed as %252 nowhere in the configuration.
            throw new FormatException($"the virtual host has a '%' not followed by two hex digits: write a '%' in its name as %25 (amqp://host/{escaped})");
        }

        if (Authority(url) is var (start, end) && url.LastIndexOf('@', end - 1, end - start) is var at && at > start
            && BrokenEscape(url[start..at]) is not null)
        {
            // The same typo in the user or the password: Uri keeps such a '%' as it is, so "p%zz" was sent as written while
            // "p%41" became "pA". Named without the text: the password is in it.
            throw new FormatException("the user or password has a '%' not followed by two hex digits: write a '%' in them as %25");
        }

        if (uri.Segments.Length > 2)
        {
            // RabbitMQ.Client takes one path segment ("Multiple segments in path of AMQP URI", thrown when the connection
            // factory is made: the process aborted at start).
            throw new FormatException($"the virtual host is one path segment: write a '/' in its name as %2F (amqp://host/{uri.AbsolutePath[1..].Replace("/", "%2F", StringComparison.Ordinal)})");
        }

        var (userName, password, masked) = UserInfo(uri);
        var credentials = Credentials(uri, userName, password);
        var host = uri.HostNameType == UriHostNameType.IPv6 ? uri.Host.Trim('[', ']') : uri.Host;
        var port = uri.Port > 0 ? uri.Port : isTls ? 5671 : 5672;
        // Everything after the first '/' is the virtual host, as in the Go and .NET clients: "amqp://h//" and "amqp://h/%2F" are "/";
        // a '/' after the second (amqp://h/a/b) is refused above, as the .NET client refuses it.
        var virtualHost = uri.AbsolutePath.Length > 1 ? Uri.UnescapeDataString(uri.AbsolutePath[1..]) : "/";
        return new BrokerUrl(uri, isTls, host, port, virtualHost, userName, password, $"{uri.Scheme}://{masked}{uri.Authority}{uri.AbsolutePath}", credentials);
    }

    /// <summary><c>broker.node</c> entries: a problem message, or null for a URL <see cref="Parse"/> takes.</summary>
    static string? IValueRule.Check(string value) => TryParse(value, out _, out var problem) ? null : $"invalid broker URL: {problem}";

    /// <summary>Prints a URL without its password; an unparsable one (set in code) is not printed at all.</summary>
    internal static string Mask(string url) => TryParse(url, out var parsed) ? parsed.Masked : "***";

    /// <summary>Like <see cref="Parse"/>, false instead of an exception.</summary>
    public static bool TryParse(string url, [NotNullWhen(true)] out BrokerUrl? result) => TryParse(url, out result, out _);

    private static bool TryParse(string url, [NotNullWhen(true)] out BrokerUrl? result, out string problem)
    {
        try
        {
            result = Parse(url);
            problem = string.Empty;
            return true;
        }
        catch (FormatException ex)
        {
            result = null;
            problem = ex.Message;
            return false;
        }
    }

    /// <summary>
    /// The port of a URL <see cref="Uri"/> refused when it is not a number from 1 to 65535 (quoted unless digits), else null.
    /// Null too when a '@' follows the authority's end: the text before it might be a password with a '/' in it.
    /// </summary>
    private static string? BadPort(string url)
    {
        if (Authority(url) is not (var start, var end) || url.IndexOf('@', end) >= 0)
        {
            return null;
        }

        var authority = url[start..end];
        authority = authority[(authority.LastIndexOf('@') + 1)..];
        var colon = authority.LastIndexOf(':');
        if (colon < 0 || authority.LastIndexOf(']') > colon || colon == authority.Length - 1)
        {
            return null;
        }

        var port = authority[(colon + 1)..];
        var digits = port.All(char.IsAsciiDigit);
        if (digits && port.Length <= 5 && int.Parse(port, System.Globalization.CultureInfo.InvariantCulture) is >= 1 and <= 65535)
        {
            return null;
        }

        if (digits)
        {
            return port;
        }

        // Without a user before the host, "host:port" may be "user:password" whose "@host" is missing (amqp://admin:S3cret):
        // the port is then the password, never quoted. After a user's '@' it is a port, quoted.
        return authority.Length < url[start..end].Length
            ? ConfigText.Quote(port)
            : $"{port.Length} character(s) that are no number (not quoted: with no user@ before the host, they may be a password whose @host is missing)";
    }

    /// <summary>The path of <paramref name="url"/> as written (without its leading '/'), before any '?' or '#'.</summary>
    private static string RawPath(string url)
    {
        if (Authority(url) is not (_, var end) || end == url.Length || url[end] != '/')
        {
            return string.Empty;
        }

        var pathEnd = url.IndexOfAny(['?', '#'], end);
        return url[(end + 1)..(pathEnd < 0 ? url.Length : pathEnd)];
    }

    /// <summary>
    /// Where <paramref name="url"/>'s authority (user info, host, port) starts and ends as written: after "://", up to the
    /// first '/', '?' or '#' (or the end); null without "://".
    /// </summary>
    private static (int Start, int End)? Authority(string url)
    {
        var scheme = url.IndexOf("://", StringComparison.Ordinal);
        if (scheme < 0)
        {
            return null;
        }

        var start = scheme + 3;
        var end = url.IndexOfAny(['/', '?', '#'], start);
        return (start, end < 0 ? url.Length : end);
    }

    /// <summary><paramref name="path"/> with every '%' not followed by two hex digits written %25, or null when there is none.</summary>
    private static string? BrokenEscape(string path)
    {
        var broken = false;
        var builder = new System.Text.StringBuilder(path.Length + 4);
        for (var i = 0; i < path.Length; i++)
        {
            if (path[i] == '%' && !(i + 2 < path.Length && char.IsAsciiHexDigit(path[i + 1]) && char.IsAsciiHexDigit(path[i + 2])))
            {
                broken = true;
                builder.Append("%25");
            }
            else
            {
                builder.Append(path[i]);
            }
        }

        return broken ? builder.ToString() : null;
    }

    /// <summary>
    /// The credential forms <see cref="Redact"/> masks, longest first: <c>user:password</c>, then <c>:password@</c>, each
    /// decoded and as written in the URL. None when the URL gives no password (the default <c>guest</c> is no secret).
    /// </summary>
    private static (string Shown, string Masked)[] Credentials(Uri uri, string userName, string password)
    {
        var info = uri.UserInfo;
        var colon = info.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0 || password.Length == 0)
        {
            return [];
        }

        var (rawUser, rawPassword) = (info[..colon], info[(colon + 1)..]);
        return new[]
            {
                ($"{userName}:{password}", $"{userName}:***"),
                ($"{rawUser}:{rawPassword}", $"{rawUser}:***"),
                ($":{password}@", ":***@"),
                ($":{rawPassword}@", ":***@"),
            }
            .Distinct()
            .OrderByDescending(c => c.Item1.Length)
            .ToArray();
    }

    /// <summary>User and password (decoded) and the masked user-info part of the URL, with its <c>@</c>.</summary>
    private static (string UserName, string Password, string Masked) UserInfo(Uri uri)
    {
        var info = uri.UserInfo;
        if (info.Length == 0)
        {
            return ("guest", "guest", string.Empty);
        }

        var colon = info.IndexOf(':', StringComparison.Ordinal);
        var user = colon < 0 ? info : info[..colon];
        if (user.Length == 0)
        {
            throw new FormatException("empty user name");
        }

        return colon < 0
            ? (Uri.UnescapeDataString(user), "guest", $"{user}@")
            : (Uri.UnescapeDataString(user), Uri.UnescapeDataString(info[(colon + 1)..]), $"{user}:***@");
    }
}
