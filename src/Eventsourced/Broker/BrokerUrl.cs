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
    private BrokerUrl(Uri uri, bool isTls, string host, int port, string virtualHost, string userName, string password, string masked)
    {
        Uri = uri;
        IsTls = isTls;
        Host = host;
        Port = port;
        VirtualHost = virtualHost;
        UserName = userName;
        Password = password;
        Masked = masked;
    }

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

    /// <exception cref="FormatException">Not an absolute URL, another scheme, no host, port 0, a query or a fragment, a path of more than one segment. The message never contains the password.</exception>
    public static BrokerUrl Parse(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!Uri.TryCreate(url.Trim(), UriKind.Absolute, out var uri))
        {
            throw new FormatException("not an absolute URL (expected amqp://user:password@host:port/vhost)");
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
            throw new FormatException("port must be from 1 to 65535");
        }

        if (uri.Query.Length > 0 || uri.Fragment.Length > 0)
        {
            throw new FormatException("query parameters and fragments are not supported");
        }

        if (uri.Segments.Length > 2)
        {
            // RabbitMQ.Client takes one path segment ("Multiple segments in path of AMQP URI", thrown when the connection
            // factory is made: the process aborted at start).
            throw new FormatException($"the virtual host is one path segment: write a '/' in its name as %2F (amqp://host/{uri.AbsolutePath[1..].Replace("/", "%2F", StringComparison.Ordinal)})");
        }

        var (userName, password, masked) = UserInfo(uri);
        var host = uri.HostNameType == UriHostNameType.IPv6 ? uri.Host.Trim('[', ']') : uri.Host;
        var port = uri.Port > 0 ? uri.Port : isTls ? 5671 : 5672;
        // Everything after the first '/' is the virtual host, as in the Go and .NET clients: "amqp://h//" and "amqp://h/%2F" are "/";
        // a '/' after the second (amqp://h/a/b) is refused above, as the .NET client refuses it.
        var virtualHost = uri.AbsolutePath.Length > 1 ? Uri.UnescapeDataString(uri.AbsolutePath[1..]) : "/";
        return new BrokerUrl(uri, isTls, host, port, virtualHost, userName, password, $"{uri.Scheme}://{masked}{uri.Authority}{uri.AbsolutePath}");
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
