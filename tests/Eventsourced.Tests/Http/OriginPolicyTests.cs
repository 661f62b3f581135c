using Eventsourced.Http;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Tests.Http;

public sealed class OriginPolicyTests
{
    private static OriginPolicy Policy(string? allowOrigin, bool credentials = false, params string[] cookies) =>
        new(Headers(allowOrigin, credentials), cookies);

    private static HeaderOptions Headers(string? allowOrigin, bool credentials)
    {
        var headers = new HeaderOptions();
        if (credentials)
        {
            headers.Cors["Access-Control-Allow-Credentials"] = "true";
        }

        if (allowOrigin is null)
        {
            headers.Cors.Remove("Access-Control-Allow-Origin");
        }
        else
        {
            headers.Cors["Access-Control-Allow-Origin"] = allowOrigin;
        }

        return headers;
    }

    [Theory]
    [InlineData("push.example", null)]
    [InlineData("PUSH.example:2069", null)]
    [InlineData("a.b.example", null)]
    [InlineData("[::1]:2069", null)]
    [InlineData("push.example.", null)]
    [InlineData("a.b.example.:2069", null)]
    [InlineData("push.example..", "host 'push.example..' is not served here (server.hosts)")]
    [InlineData(".", "host '.' is not served here (server.hosts)")]
    [InlineData("attacker.example", "host 'attacker.example' is not served here (server.hosts)")]
    [InlineData("example", "host 'example' is not served here (server.hosts)")]
    [InlineData("push.example.attacker.example", "host 'push.example.attacker.example' is not served here (server.hosts)")]
    [InlineData("", "host '' is not served here (server.hosts)")]
    [InlineData("a..b.example", "host 'a..b.example' is not served here (server.hosts)")]
    [InlineData(".b.example", "host '.b.example' is not served here (server.hosts)")]
    [InlineData("..b.example", "host '..b.example' is not served here (server.hosts)")]
    [InlineData("a..b.example.", "host 'a..b.example.' is not served here (server.hosts)")]
    public void HostRefusal_OnlyTheListedHostsAreServed(string host, string? refusal)
    {
        var policy = new OriginPolicy(new HeaderOptions(), [], ["push.example", "*.b.example", "[::1]"]);
        var context = new DefaultHttpContext();
        context.Request.Host = new HostString(host);

        Assert.Equal(refusal, policy.HostRefusal(context.Request));
    }

    [Theory]
    [InlineData("")]
    [InlineData("push.example,*")]
    public void HostRefusal_NoListOrAStar_ServesEveryHost(string hosts)
    {
        var policy = new OriginPolicy(new HeaderOptions(), [], hosts.Split(',', StringSplitOptions.RemoveEmptyEntries));
        var context = new DefaultHttpContext();
        context.Request.Host = new HostString("anything.example");

        Assert.Null(policy.HostRefusal(context.Request));
    }

    [Theory]
    [InlineData("push.example")]
    [InlineData("push.example.")]
    public void HostRefusal_AListedNameWithItsRootDot_ServesTheNameEitherWay(string host)
    {
        var policy = new OriginPolicy(new HeaderOptions(), [], ["push.example."]);
        var context = new DefaultHttpContext();
        context.Request.Host = new HostString(host);

        Assert.Null(policy.HostRefusal(context.Request));
    }

    private static IHeaderDictionary Answer(OriginPolicy policy, string? origin)
    {
        var context = new DefaultHttpContext();
        if (origin is not null)
        {
            context.Request.Headers.Origin = origin;
        }

        policy.Apply(context);
        return context.Response.Headers;
    }

    [Fact]
    public void Wildcard_AllowsEveryOriginWithoutVary()
    {
        var policy = Policy("*");

        Assert.True(policy.IsAllowed("https://any.example"));
        Assert.Equal("*", Answer(policy, "https://any.example")["Access-Control-Allow-Origin"].ToString());
        Assert.False(Answer(policy, "https://any.example").ContainsKey("Vary"));
    }

    [Fact]
    public void List_AnswersAListedOriginWithItselfAndVary()
    {
        var policy = Policy("https://app.example, https://admin.example:8443");

        var answer = Answer(policy, "https://admin.example:8443");

        Assert.Equal("https://admin.example:8443", answer["Access-Control-Allow-Origin"].ToString());
        Assert.Equal("Origin", answer["Vary"].ToString());
        Assert.True(policy.IsAllowed("https://app.example"));
    }

    [Fact]
    public void List_AnswersNothingForAnUnlistedOrigin()
    {
        var policy = Policy("https://app.example https://admin.example");

        var answer = Answer(policy, "https://evil.example");

        Assert.False(answer.ContainsKey("Access-Control-Allow-Origin"));
        Assert.Equal("Origin", answer["Vary"].ToString());
        Assert.False(policy.IsAllowed("https://evil.example"));
        Assert.False(policy.IsAllowed("https://app.example.evil.example"));
        Assert.False(policy.IsAllowed("null"));
    }

    [Fact]
    public void List_RequestWithoutOrigin_IsAllowedWithoutTheHeader()
    {
        var policy = Policy("https://app.example");

        Assert.True(policy.IsAllowed(null));
        Assert.True(policy.IsAllowed(""));
        Assert.False(Answer(policy, null).ContainsKey("Access-Control-Allow-Origin"));
    }

    [Fact]
    public void Removed_SendsNothingAndRefusesNothing()
    {
        var policy = Policy(null);

        Assert.True(policy.IsAllowed("https://any.example"));
        Assert.Empty(Answer(policy, "https://any.example"));
    }

    private static HttpRequest Request(string? origin, string host = "push.example", string? cookie = null)
    {
        var context = new DefaultHttpContext();
        context.Request.Host = new HostString(host);
        if (origin is not null)
        {
            context.Request.Headers.Origin = origin;
        }

        if (cookie is not null)
        {
            context.Request.Headers.Cookie = cookie;
        }

        return context.Request;
    }

    [Theory]
    [InlineData("*", true, "https://app.example", false)]
    [InlineData(null, false, "https://app.example", false)]
    [InlineData("https://app.example", false, "https://app.example", false)]
    [InlineData("https://app.example", true, "https://evil.example", false)]
    [InlineData("https://app.example", true, "https://app.example", true)]
    [InlineData("https://app.example", false, "https://push.example", true)] // the gateway's own origin
    public void Refusal_WithTheApplicationsSignIn_AnotherOriginNeedsToBeListedWithCredentials(string? allowOrigin, bool credentials, string origin, bool allowed)
    {
        // With auth.application_user any cookie (or header) of the application's sign-in identifies the subscriber: a page of
        // another origin must be listed by name with credentials allowed, whether or not the request carries a cookie now.
        var policy = new OriginPolicy(Headers(allowOrigin, credentials), [], applicationUser: true);

        var refusal = policy.Refusal(Request(origin));

        Assert.True(allowed == refusal is null, refusal);
    }

    [Theory]
    [InlineData("*")]
    [InlineData(null)]
    [InlineData("https://app.example")]
    public void Refusal_SubscriberCookieFromAPageNotListedWithCredentials_IsRefused(string? allowOrigin)
    {
        var policy = Policy(allowOrigin, credentials: false, "sid");

        Assert.StartsWith("cookies are accepted from another origin's page only", Refusal(policy, "https://app.example", cookie: "sid=abc"), StringComparison.Ordinal);
        Assert.NotNull(Refusal(policy, "https://app.example", cookie: "theme=dark; sid=abc"));
    }

    [Theory]
    [InlineData("sid=a b")]
    [InlineData("sid=a,b")]
    [InlineData("sid=a\\b")]
    [InlineData("theme=dark; sid=user 42")]
    [InlineData("sid=ab; sid=cd")]
    public void Refusal_SubscriberCookieWithCharactersAspNetCoresParserDrops_IsRefusedAsWell(string cookie)
    {
        // The queue name and the token are read from the Cookie header by the gateway's own parser (Naming.RequestValues),
        // which takes a value with a space, comma or backslash that ASP.NET Core's Request.Cookies leaves out: judged by
        // the latter, such a cookie was not there, and any site's page could open its visitors' queues over WebSocket.
        var policy = Policy("*", credentials: false, "sid");

        Assert.StartsWith("cookies are accepted from another origin's page only", Refusal(policy, "https://evil.example", cookie: cookie), StringComparison.Ordinal);
    }

    private static string? Refusal(OriginPolicy policy, string? origin, string host = "push.example", string? cookie = null) =>
        policy.Refusal(Request(origin, host, cookie));

    [Theory]
    [InlineData("cross-site")]
    [InlineData("same-site")]
    [InlineData("Cross-Site")]
    public void Refusal_NoOriginFromAnotherSitesPageWithASubscriberCookie_IsRefusedWhateverIsListed(string fetchSite)
    {
        // A link followed, a script's navigation, an image or a frame of another site's page sends no Origin, but the user's
        // cookies (SameSite=Lax: every top-level navigation): its stream or poll consumed the visitor's messages unread.
        foreach (var policy in new[] { Policy("*", credentials: false, "sid"), Policy("https://app.example", credentials: true, "sid"), Policy(null, credentials: false, "sid") })
        {
            var request = Request(origin: null, cookie: "theme=dark; sid=abc");
            request.Headers["Sec-Fetch-Site"] = fetchSite;

            Assert.Equal(OriginPolicy.FromAnotherSiteWithoutOrigin, policy.Refusal(request));
        }
    }

    [Theory]
    [InlineData("same-origin", "sid=abc", false)]
    [InlineData("none", "sid=abc", false)] // typed into the address bar, a bookmark
    [InlineData(null, "sid=abc", false)] // curl, a server, an older browser
    [InlineData("cross-site", "theme=dark", false)] // no cookie the gateway reads
    [InlineData("cross-site", null, false)]
    public void Refusal_NoOriginWithoutAnotherSitesPageOrWithoutASubscriberCookie_IsAllowed(string? fetchSite, string? cookie, bool refused)
    {
        var policy = Policy("https://app.example", credentials: true, "sid");
        var request = Request(origin: null, cookie: cookie);
        if (fetchSite is not null)
        {
            request.Headers["Sec-Fetch-Site"] = fetchSite;
        }

        Assert.Equal(refused, policy.Refusal(request) is not null);
    }

    [Theory]
    [InlineData("cross-site", true)]
    [InlineData("same-origin", false)]
    public void Refusal_NoOriginFromAnotherSitesPage_WithTheApplicationsSignIn_IsRefused(string fetchSite, bool refused)
    {
        var policy = new OriginPolicy(Headers("https://app.example", credentials: true), [], applicationUser: true);
        var request = Request(origin: null);
        request.Headers["Sec-Fetch-Site"] = fetchSite;

        Assert.Equal(refused, policy.Refusal(request) is not null);
    }

    [Theory]
    [InlineData("image", "same-origin", "sid=abc", "https://app.example", true)] // the browser's /favicon.ico after a 403 page
    [InlineData("image", "same-origin", "sid=abc", null, true)]
    [InlineData("document", "none", "sid=abc", null, true)] // a link in an e-mail, a bookmark
    [InlineData("iframe", "same-origin", "sid=abc", null, true)]
    [InlineData("script", "same-origin", "sid=abc", null, true)]
    [InlineData("Image", "same-origin", "sid=abc", null, true)]
    [InlineData("empty", "same-origin", "sid=abc", null, false)] // EventSource, fetch
    [InlineData("empty", "cross-site", "sid=abc", "https://app.example", false)] // the listed page's EventSource
    [InlineData("websocket", "cross-site", "sid=abc", "https://app.example", false)]
    [InlineData(null, null, "sid=abc", null, false)] // curl, a server
    [InlineData("image", "same-origin", "theme=dark", null, false)] // no cookie the gateway reads: nothing of a visitor's to consume
    [InlineData("document", "none", null, null, false)] // a token in the URL, typed: the user's own
    public void Refusal_ADestinationThatCannotReadAStream_WithASubscriberCookie_IsRefusedFromAnyPage(string? destination, string? fetchSite, string? cookie, string? origin, bool refused)
    {
        var policy = Policy("https://app.example", credentials: true, "sid");
        var request = Request(origin, cookie: cookie);
        if (destination is not null)
        {
            request.Headers["Sec-Fetch-Dest"] = destination;
        }

        if (fetchSite is not null)
        {
            request.Headers["Sec-Fetch-Site"] = fetchSite;
        }

        var refusal = policy.Refusal(request);
        Assert.Equal(refused, refusal is not null);
        if (refused)
        {
            Assert.Equal($"cookies are accepted only in a request that can read the stream (EventSource, fetch, WebSocket), not for Sec-Fetch-Dest '{destination}'", refusal);
        }
    }

    [Theory]
    [InlineData("image", true)]
    [InlineData("empty", false)]
    public void Refusal_ADestinationThatCannotReadAStream_WithTheApplicationsSignIn_IsRefused(string destination, bool refused)
    {
        var policy = new OriginPolicy(Headers("https://app.example", credentials: true), [], applicationUser: true);
        var request = Request(origin: null);
        request.Headers["Sec-Fetch-Site"] = "same-origin";
        request.Headers["Sec-Fetch-Dest"] = destination;

        Assert.Equal(refused, policy.Refusal(request) is not null);
    }

    [Theory]
    [InlineData("image\r\nX-Injected: 1")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public void Refusal_ADestinationNoBrowserSends_IsNotQuoted(string destination)
    {
        var policy = Policy("*", credentials: false, "sid");
        var request = Request(origin: null, cookie: "sid=abc");
        request.Headers["Sec-Fetch-Dest"] = destination;

        Assert.EndsWith("not for Sec-Fetch-Dest '...'", policy.Refusal(request), StringComparison.Ordinal);
    }

    [Fact]
    public void Refusal_SubscriberCookieFromAListedOriginWithCredentials_IsAllowed()
    {
        var policy = Policy("https://app.example", credentials: true, "sid");

        Assert.Null(Refusal(policy, "https://app.example", cookie: "sid=abc"));
        Assert.Equal("origin not allowed", Refusal(policy, "https://evil.example", cookie: "sid=abc"));
    }

    [Fact]
    public void Refusal_CookiesTheGatewayDoesNotRead_OrNoCookieUse_AreNoReason()
    {
        Assert.Null(Refusal(Policy("*", credentials: false, "sid"), "https://any.example", cookie: "theme=dark"));
        Assert.Null(Refusal(Policy("*"), "https://any.example", cookie: "sid=abc"));
        Assert.Null(Refusal(Policy("*", credentials: false, "sid"), "https://any.example"));
    }

    [Theory]
    [InlineData("https://push.example", "push.example")]
    [InlineData("http://push.example", "push.example")]
    [InlineData("https://PUSH.example", "push.example")]
    [InlineData("http://localhost:2069", "localhost:2069")]
    [InlineData("https://push.example:8443", "push.example:8443")]
    [InlineData("http://[::1]:2069", "[::1]:2069")]
    public void Refusal_APageOfTheGatewaysOwnOrigin_IsAllowedWithItsCookies(string origin, string host)
    {
        var policy = Policy("https://app.example", credentials: false, "sid");

        Assert.Null(Refusal(policy, origin, host, cookie: "sid=abc"));
    }

    [Theory]
    [InlineData("https://push.example.evil.example", "push.example")]
    [InlineData("https://push.example:8443", "push.example")]
    [InlineData("http://localhost:2070", "localhost:2069")]
    [InlineData("null", "push.example")]
    public void Refusal_AnotherOrigin_IsNotTakenForTheGatewaysOwn(string origin, string host)
    {
        var policy = Policy("https://app.example", credentials: true, "sid");

        Assert.Equal("origin not allowed", Refusal(policy, origin, host, cookie: "sid=abc"));
    }

    [Theory]
    [InlineData("http://push.example:8443", false)] // a page a network attacker injected into plain HTTP
    [InlineData("https://push.example:8443", true)]
    public void Refusal_ARequestTheGatewayTookOverTls_IsOfAnHttpsPagesOriginOnly(string origin, bool sameOrigin)
    {
        var policy = Policy("https://app.example", credentials: true, "sid");
        var request = Request(origin, "push.example:8443", cookie: "sid=abc");
        request.Scheme = "https";

        Assert.Equal(sameOrigin ? null : "origin not allowed", policy.Refusal(request));
        Assert.True(OriginPolicy.IsSameOrigin(origin, new HostString("push.example:8443"), requestIsHttps: false), "over plain HTTP (a TLS-terminating proxy) either scheme is the gateway's");
    }

    [Fact]
    public void SubscriberCookies_AreTheAuthCookieAndEveryCookiePlaceholder()
    {
        var queue = new Eventsourced.Consuming.QueueOptions { Pattern = "q-${query:id}-${ cookie : sid }", Bind = ["users:topic:user.${cookie:uid}"] };
        var auth = new Eventsourced.Authentication.AuthOptions { FromCookie = "token" };
        var ws = new Eventsourced.WebSockets.WebSocketTransportOptions { PublishRoutingKey = "chat.${cookie:room}.${to}" };

        Assert.Equal(["token", "uid", "sid", "room"], OriginPolicy.SubscriberCookies(queue, auth, ws));
        Assert.Empty(OriginPolicy.SubscriberCookies(new(), new(), new()));
    }
}
