using Eventsourced.Authentication;
using Eventsourced.Configuration;
using Eventsourced.Consuming;
using Eventsourced.Naming;
using Eventsourced.WebSockets;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Eventsourced.Http;

/// <summary>
/// Which web pages may use the gateway: <c>header.cors</c>'s <c>Access-Control-Allow-Origin</c>, either <c>*</c>
/// (any page; the default, as in the original) or a list of origins (<c>https://app.example,
/// https://admin.example</c>, separated by commas or spaces). With a list, an answer names the request's
/// <c>Origin</c> when it is listed and no origin otherwise, always with <c>Vary: Origin</c> so that caches keep
/// the answers apart; and a subscription from a page of an unlisted origin is refused (403) before anything is
/// consumed for it: the browser would discard the stream, but its messages would be acknowledged as delivered.
/// Every transport asks here (SSE's CORS answer, a WebSocket's <c>Origin</c> check on the upgrade).
/// </summary>
internal sealed class OriginPolicy
{
    public const string AllowOriginHeader = "Access-Control-Allow-Origin";

    public const string AllowCredentialsHeader = "Access-Control-Allow-Credentials";

    private readonly HashSet<string> _origins;
    private readonly string[] _subscriberCookies;
    private readonly bool _applicationUser;
    private readonly Microsoft.Extensions.Primitives.StringSegment[] _hosts;

    public OriginPolicy(IOptions<HeaderOptions> headers, IOptions<QueueOptions> queue, IOptions<AuthOptions> auth, IOptions<WebSocketTransportOptions> ws, IOptions<Hosting.ServerOptions> server)
        : this(headers.Value, SubscriberCookies(queue.Value, auth.Value, ws.Value), server.Value.Hosts, auth.Value.ApplicationUser)
    {
    }

    /// <param name="headers"><c>header</c>.</param>
    /// <param name="subscriberCookies">The cookies the gateway takes a subscriber's token or names from.</param>
    /// <param name="hosts"><c>server.hosts</c>: the host names served; none or <c>*</c>: any.</param>
    /// <param name="applicationUser"><c>auth.application_user</c>: the embedding application's sign-in identifies subscribers.</param>
    internal OriginPolicy(HeaderOptions headers, IEnumerable<string> subscriberCookies, IEnumerable<string>? hosts = null, bool applicationUser = false)
    {
        _applicationUser = applicationUser;
        var served = hosts?.ToArray() ?? [];
        _hosts = served.Contains("*") ? [] : [.. served.Select(h => new Microsoft.Extensions.Primitives.StringSegment(WithoutRootDot(h)))];
        var configured = headers.Cors.TryGetValue(AllowOriginHeader, out var value) ? value : string.Empty;
        var entries = Parse(configured);
        AllowsAny = entries is ["*"];
        IsOff = entries.Length == 0;
        _origins = AllowsAny ? [] : new HashSet<string>(entries, StringComparer.OrdinalIgnoreCase);
        AllowsCredentials = headers.Cors.TryGetValue(AllowCredentialsHeader, out var credentials) && credentials.Trim().Equals("true", StringComparison.OrdinalIgnoreCase);
        _subscriberCookies = [.. subscriberCookies.Distinct(StringComparer.Ordinal)];
    }

    /// <summary><c>*</c>: every page may.</summary>
    public bool AllowsAny { get; }

    /// <summary>No <c>Access-Control-Allow-Origin</c> configured: no answer is readable across origins, none is refused.</summary>
    public bool IsOff { get; }

    /// <summary><c>Access-Control-Allow-Credentials: true</c>: listed origins' pages may send their cookies.</summary>
    public bool AllowsCredentials { get; }

    /// <summary>
    /// Whether a request with this <c>Origin</c> may subscribe (or upgrade). A request without one did not come
    /// from another origin's page (browsers send it on every cross-origin request and every WebSocket): allowed.
    /// </summary>
    public bool IsAllowed(string? origin) =>
        AllowsAny || IsOff || string.IsNullOrEmpty(origin) || _origins.Contains(origin);

    /// <summary>
    /// Why <paramref name="request"/> may not subscribe (or upgrade), or null. A page of the gateway's own origin
    /// always may. A page of another origin needs <see cref="IsAllowed"/>; and when the request carries a cookie the
    /// gateway identifies subscribers by (<c>auth.from_cookie</c>, a <c>${cookie:NAME}</c> of <c>queue.pattern</c>,
    /// <c>queue.bind</c> or <c>ws.publish_routing_key</c>), its origin must be listed by name, with
    /// <c>Access-Control-Allow-Credentials: true</c>. Browsers enforce that pair for an EventSource only after the
    /// gateway has answered (and acknowledged what it streamed), and never for a WebSocket, whose upgrade carries the
    /// user's cookies from any page: without this, with <c>*</c> any site could open a visitor's queue. With
    /// <c>auth.application_user</c> the application's sign-in (whatever cookie or header carries it) identifies subscribers,
    /// so every request from another origin's page is held to that pair. A request without <c>Origin</c> that the browser
    /// marks as another site's (<c>Sec-Fetch-Site</c>: a link, a navigation, an image) is refused when it carries such
    /// credentials, whatever is listed: no page can read its answer, and it would consume the visitor's messages; so is
    /// any request with such credentials that the browser makes for a document, an image, a frame or a script
    /// (<c>Sec-Fetch-Dest</c>), from any page, the gateway's own origin included.
    /// </summary>
    public string? Refusal(HttpRequest request)
    {
        var origin = request.Headers.Origin.ToString();
        // Refused only with ambient credentials, which are looked for (cookies parsed) only when the browser says either.
        var refusedWithCredentials = origin.Length == 0 && IsFromAnotherSitesPage(request) ? FromAnotherSiteWithoutOrigin
            : CannotReadAStream(request, out var destination) ? $"cookies are accepted only in a request that can read the stream (EventSource, fetch, WebSocket), not for Sec-Fetch-Dest '{destination}'"
            : null;
        if (refusedWithCredentials is not null && CarriesSubscriberCredentials(request))
        {
            return refusedWithCredentials;
        }

        if (origin.Length == 0)
        {
            return null;
        }

        if (IsSameOrigin(origin, request))
        {
            return null;
        }

        if (!IsAllowed(origin))
        {
            return "origin not allowed";
        }

        var listedWithCredentials = AllowsCredentials && _origins.Contains(origin);
        if (_applicationUser && !listedWithCredentials)
        {
            return "the application's sign-in is accepted from another origin's page only when header.cors lists that origin and allows credentials";
        }

        if (!listedWithCredentials && CarriesSubscriberCookie(request))
        {
            return "cookies are accepted from another origin's page only when header.cors lists that origin and allows credentials";
        }

        return null;
    }

    /// <summary>Why a request from another site's page that carries no <c>Origin</c> but a subscriber's credentials is refused.</summary>
    internal const string FromAnotherSiteWithoutOrigin =
        "cookies are accepted from another site's page only in a request that names its origin (EventSource, fetch, WebSocket), not from a link, a navigation, an image or a frame";

    /// <summary>
    /// Whether the browser says that a page of another origin sent the request (<c>Sec-Fetch-Site</c>: <c>cross-site</c> or
    /// <c>same-site</c>). Browsers send no <c>Origin</c> on a <c>GET</c> that is not a CORS request: a link followed, a
    /// script's navigation, an image, a frame; such a request from any site carries the user's cookies as far as their
    /// <c>SameSite</c> allows (<c>Lax</c>: every top-level navigation), and the gateway would stream or hold the visitor's
    /// messages for a page that can never read them. Without the header (older browsers, curl, servers): not known.
    /// </summary>
    private static bool IsFromAnotherSitesPage(HttpRequest request) =>
        request.Headers["Sec-Fetch-Site"].ToString() is var site
        && (site.Equals("cross-site", StringComparison.OrdinalIgnoreCase) || site.Equals("same-site", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Whether the browser says the request is for something that cannot read an event stream or a poll's answer
    /// (<c>Sec-Fetch-Dest</c> other than <c>empty</c>, what EventSource, fetch and XMLHttpRequest send, or <c>websocket</c>):
    /// a document, an image, a frame, a script, a style sheet. The browser's own follow-up requests are such: after the
    /// 403 that another site's navigation gets, Chromium asks the gateway's origin for <c>/favicon.ico</c> as
    /// <c>same-origin</c>, with the visitor's cookies, and that request opened the visitor's stream and consumed a
    /// message for an icon. A link in an e-mail opens a tab (<c>Sec-Fetch-Site: none</c>, a document) the same way.
    /// Without the header (older browsers, curl, servers): not known, allowed. The value is quoted in the refusal
    /// only when it is one of the tokens browsers send (it is the client's text).
    /// </summary>
    private static bool CannotReadAStream(HttpRequest request, out string destination)
    {
        destination = request.Headers["Sec-Fetch-Dest"].ToString();
        if (destination.Length == 0 || destination.Equals("empty", StringComparison.OrdinalIgnoreCase) || destination.Equals("websocket", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        if (destination.Length > 20 || !destination.All(c => char.IsAsciiLetter(c) || c == '-'))
        {
            destination = "...";
        }

        return true;
    }

    /// <summary>Whether the request carries what identifies a subscriber by ambient credentials: a subscriber cookie, or the application's sign-in.</summary>
    private bool CarriesSubscriberCredentials(HttpRequest request) => _applicationUser || CarriesSubscriberCookie(request);

    /// <summary>
    /// Whether the request carries a cookie the gateway identifies subscribers by. Read with the parser the names and the
    /// token are read with (RequestValues): ASP.NET Core's Request.Cookies leaves out a cookie whose value has a space, a
    /// comma or a backslash, which the gateway still reads.
    /// </summary>
    private bool CarriesSubscriberCookie(HttpRequest request) =>
        _subscriberCookies.Any(name => RequestValues.Cookie(request, name, out _) != RequestValueStatus.Missing);

    /// <summary>
    /// Why the request's <c>Host</c> is not one this gateway serves (<c>server.hosts</c>), or null. Same origin is judged
    /// by <c>Host</c>: a page of a name that its owner made resolve to this gateway's address (DNS rebinding, against a
    /// gateway reachable only from inside a network) would otherwise be a page of the gateway's own origin.
    /// </summary>
    public string? HostRefusal(HttpRequest request)
    {
        if (_hosts.Length == 0)
        {
            return null;
        }

        // HostString.MatchesAny takes "*.example.com" as "ends with .example.com", so "a..example.com" and
        // "..example.com" would pass; no DNS name has an empty label (RFC 1035 2.3.1), so such a Host is no name of ours.
        var name = WithoutRootDot(request.Host.Host);
        if (!name.StartsWith('.') && !name.Contains("..", StringComparison.Ordinal) && HostString.MatchesAny(name, _hosts))
        {
            return null;
        }

        var host = request.Host.Host;
        return $"host {ConfigText.Quote(host.Length > 100 ? host[..100] + "..." : host)} is not served here (server.hosts)";
    }

    /// <summary>
    /// A fully qualified name's one trailing dot (<c>push.example.</c>, which browsers send as typed) names the same host
    /// as without it; a second dot does not.
    /// </summary>
    private static string WithoutRootDot(string host) =>
        host.Length > 1 && host[^1] == '.' && host[^2] != '.' ? host[..^1] : host;

    /// <summary>
    /// Whether the browser's request came over TLS: the gateway's own, or a trusted proxy's <c>X-Forwarded-Proto</c> of
    /// <c>https</c>, or <c>wss</c>, which Traefik forwards for a WebSocket handshake that came over TLS (ASP.NET's
    /// <see cref="HttpRequest.IsHttps"/> knows only <c>https</c>).
    /// </summary>
    private static bool OverTls(HttpRequest request) =>
        request.IsHttps || string.Equals(request.Scheme, "wss", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Whether <paramref name="origin"/> is the origin of the request's own host (and port): a page the gateway's host served.
    /// A request that came over TLS (<paramref name="requestIsHttps"/>: the gateway's own, or a trusted proxy's
    /// <c>X-Forwarded-Proto: https</c> or <c>wss</c>, <see cref="OverTls"/>) is of an <c>https</c> page's origin only: an <c>http://</c> page of the same host
    /// and port is another origin to the browser, and one a network attacker can write (a page injected into plain HTTP
    /// would otherwise open <c>wss://</c> with the visitor's <c>Secure</c> cookies as the gateway's own). Over plain HTTP
    /// either scheme is taken: behind a proxy that terminates TLS and says nothing, the gateway cannot tell which one the
    /// browser used.
    /// </summary>
    /// <summary>Whether <paramref name="origin"/> is the origin of <paramref name="request"/>'s own host (<see cref="IsSameOrigin(string, HostString, bool)"/>), over TLS as <see cref="OverTls"/> says.</summary>
    internal static bool IsSameOrigin(string origin, HttpRequest request) => IsSameOrigin(origin, request.Host, OverTls(request));

    internal static bool IsSameOrigin(string origin, HostString host, bool requestIsHttps = false)
    {
        if (!host.HasValue || !Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")
            || (requestIsHttps && uri.Scheme != "https"))
        {
            return false;
        }

        // Host carries a port only when it is not the scheme's default (as browsers send it); the request's own
        // scheme may differ behind a TLS-terminating proxy, so the origin's scheme decides the default.
        var defaultPort = uri.Scheme == "https" ? 443 : 80;
        return string.Equals(uri.Host, host.Host, StringComparison.OrdinalIgnoreCase) && uri.Port == (host.Port ?? defaultPort);
    }

    /// <summary>The cookies a subscriber's token or names are taken from, by the configuration (read with the patterns' own parsers).</summary>
    internal static IEnumerable<string> SubscriberCookies(QueueOptions queue, AuthOptions auth, WebSocketTransportOptions ws)
    {
        if (auth.FromCookie.Length > 0)
        {
            yield return auth.FromCookie;
        }

        foreach (var binding in queue.Bind.Select(QueueBinding.Parse))
        {
            foreach (var cookie in binding.Exchange.Cookies.Concat(binding.RoutingKey.Cookies))
            {
                yield return cookie;
            }
        }

        foreach (var cookie in QueuePattern.Parse(queue.Pattern).Cookies.Concat(RoutingKeyTemplate.Parse(ws.PublishRoutingKey).Cookies))
        {
            yield return cookie;
        }
    }

    /// <summary>Sets <c>Access-Control-Allow-Origin</c> (and <c>Vary: Origin</c> for a list) on <paramref name="context"/>'s response.</summary>
    public void Apply(HttpContext context)
    {
        if (IsOff)
        {
            return;
        }

        var response = context.Response.Headers;
        if (AllowsAny)
        {
            response[AllowOriginHeader] = "*";
            return;
        }

        response.Append(HeaderNames.Vary, HeaderNames.Origin);
        var origin = context.Request.Headers.Origin.ToString();
        if (origin.Length > 0 && _origins.Contains(origin))
        {
            response[AllowOriginHeader] = origin;
        }
    }

    /// <summary>
    /// <c>header.cors</c>: <c>Access-Control-Allow-Origin</c> is <c>*</c> or a list of origins, and <c>*</c> never goes
    /// with <c>Access-Control-Allow-Credentials: true</c> (browsers refuse that pair: every credentialed stream would fail).
    /// </summary>
    internal static IEnumerable<ConfigProblem> CheckOptions(HeaderOptions headers, ConfigOrigins origins)
    {
        var originKey = headers.Cors.Keys.FirstOrDefault(k => k.Equals(AllowOriginHeader, StringComparison.OrdinalIgnoreCase));
        if (originKey is null)
        {
            yield break;
        }

        var value = headers.Cors[originKey];
        if (Check(value) is { } problem)
        {
            yield return new ConfigProblem(origins.Of($"header:cors:{originKey}"), $"header.cors.{originKey}", problem);
            yield break;
        }

        var credentialsKey = headers.Cors.Keys.FirstOrDefault(k => k.Equals(AllowCredentialsHeader, StringComparison.OrdinalIgnoreCase));
        if (credentialsKey is not null && headers.Cors[credentialsKey].Trim() is { Length: > 0 } credentials
            && !credentials.Equals("true", StringComparison.OrdinalIgnoreCase) && !credentials.Equals("false", StringComparison.OrdinalIgnoreCase))
        {
            // A browser allows credentials only for exactly "true", which is what the gateway sends for a boolean in any case
            // (appsettings.json's true reaches it as "True"): "yes" or "1" would be sent as configured, and every credentialed
            // stream would fail in the browser after the gateway had acknowledged its messages.
            yield return new ConfigProblem(
                origins.Of($"header:cors:{credentialsKey}"),
                $"header.cors.{credentialsKey}",
                $"browsers allow credentials only for 'true', got '{credentials}'; to allow none, leave the header out or give it an empty value");
            yield break;
        }

        if (Parse(value) is ["*"] && credentialsKey is not null && headers.Cors[credentialsKey].Trim().Equals("true", StringComparison.OrdinalIgnoreCase))
        {
            var where = origins.Of($"header:cors:{credentialsKey}");
            yield return new ConfigProblem(
                where.Kind == ConfigSourceKind.Derived ? origins.Of($"header:cors:{originKey}") : where,
                $"header.cors.{credentialsKey}",
                $"credentials cannot be allowed to every origin ('*'): browsers refuse such answers; list the pages' origins in header.cors.{AllowOriginHeader}");
        }
    }

    /// <summary>The entries of a configured value: <c>*</c>, or origins separated by commas or spaces.</summary>
    internal static string[] Parse(string value) =>
        value.Split([',', ' ', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>The problem with a configured value, or null: <c>*</c> alone, or origins <c>scheme://host[:port]</c>.</summary>
    internal static string? Check(string value)
    {
        var entries = Parse(value);
        if (entries.Contains("*") && entries.Length > 1)
        {
            return "'*' allows every origin: give either '*' or a list of origins";
        }

        foreach (var entry in entries.Where(e => e != "*"))
        {
            if (!Uri.TryCreate(entry, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || !string.Equals(uri.GetLeftPart(UriPartial.Authority), entry, StringComparison.OrdinalIgnoreCase))
            {
                return NotAnOrigin(entry, uri);
            }
        }

        return null;
    }

    /// <summary>
    /// Why an entry is no origin. An origin that names its scheme's default port (<c>http://host:80</c>) or one with a
    /// wildcard (<c>https://*.example.com</c>) looks like <c>scheme://host[:port]</c> to whoever wrote it: each gets
    /// what to write instead.
    /// </summary>
    private static string NotAnOrigin(string entry, Uri? uri)
    {
        if (uri is { Scheme: "http" or "https", IsDefaultPort: true, AbsolutePath: "/", Query: "", Fragment: "" }
            && string.Equals($"{uri.GetLeftPart(UriPartial.Authority)}:{uri.Port}", entry, StringComparison.OrdinalIgnoreCase))
        {
            return $"'{entry}' names the default port of {uri.Scheme}, which browsers leave out of the Origin they send: write '{uri.GetLeftPart(UriPartial.Authority)}'";
        }

        if (entry.Contains('*', StringComparison.Ordinal))
        {
            return $"'{entry}' is not an origin: a wildcard matches no page; list each page's origin (scheme://host[:port]), or give '*' alone for every origin";
        }

        return $"'{entry}' is not an origin: scheme://host[:port], without a path or a trailing '/' (e.g. https://app.example.com)";
    }
}
