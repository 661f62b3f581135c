namespace Eventsourced.Configuration;

/// <summary>
/// An HTTP URL as logs and <c>eventsourced -c</c> may show it (<c>auth.jwt.jwks_url</c>): a password in its user
/// information and the values of its query (an <c>api_key=</c>, a signed URL's signature) are credentials, and are
/// written <c>***</c>; scheme, user, host, port, path and the query's parameter names stay, to tell URLs apart. The
/// fragment, never sent, is left out. What does not parse as an absolute URL is not shown at all, nor anything but the
/// scheme of a URL of another scheme.
/// </summary>
internal static class SecretUrl
{
    public const string Hidden = "***";

    public static string Mask(string url)
    {
        if (url.Length == 0)
        {
            return url;
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.IsFile || uri.HostNameType == UriHostNameType.Unknown)
        {
            return Hidden;
        }

        if (uri.Scheme is not ("http" or "https"))
        {
            // Only an HTTP URL's parts are known: .NET reads no query in others (ftp://host/jwks?key=S3cret is all path).
            return $"{uri.Scheme}://{Hidden}";
        }

        var info = uri.UserInfo;
        var colon = info.IndexOf(':', StringComparison.Ordinal);
        var user = info.Length == 0 ? string.Empty : colon < 0 ? info + "@" : $"{info[..colon]}:{Hidden}@";
        var query = uri.Query.Length <= 1
            ? string.Empty
            : "?" + string.Join('&', uri.Query[1..].Split('&').Select(part => part.IndexOf('=', StringComparison.Ordinal) is var equals and >= 0
                ? $"{part[..equals]}={Hidden}"
                : part.Length == 0 ? part : Hidden));
        return $"{uri.Scheme}://{user}{uri.GetComponents(UriComponents.Host | UriComponents.Port | UriComponents.Path, UriFormat.UriEscaped)}{query}";
    }

    /// <summary>
    /// Whether <paramref name="url"/> has <see cref="Hidden"/> where <see cref="Mask"/> puts it (the password, a query
    /// value): a URL copied from <c>-c</c>'s output rather than the URL itself.
    /// </summary>
    public static bool HasHiddenPart(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.IsFile)
        {
            return false;
        }

        var colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
        if (colon >= 0 && Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]) == Hidden)
        {
            return true;
        }

        return uri.Query.Length > 1 && uri.Query[1..].Split('&').Any(part =>
            Uri.UnescapeDataString(part.IndexOf('=', StringComparison.Ordinal) is var equals and >= 0 ? part[(equals + 1)..] : part) == Hidden);
    }
}
