using Eventsourced.Naming;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Tests.Naming;

public sealed class QueueNameResolverTests
{
    private static (bool Ok, string Name, string Reason) Resolve(string pattern, string query = "", string? cookie = null)
    {
        var context = new DefaultHttpContext();
        context.Request.QueryString = new QueryString(query);
        if (cookie is not null)
        {
            context.Request.Headers.Cookie = cookie;
        }

        var ok = new QueueNameResolver(QueuePattern.Parse(pattern)).TryResolve(context.Request, out var name, out var reason);
        return (ok, name, reason);
    }

    [Fact]
    public void TryResolve_QueryPattern_TakesTheParameter() =>
        Assert.Equal((true, "42", ""), Resolve("${query:id}", "?id=42"));

    [Fact]
    public void TryResolve_MixedPattern_ConcatenatesLiteralsQueryAndCookie() =>
        Assert.Equal((true, "queue-42-abc-name", ""), Resolve("queue-${query:id}-${cookie:sid}-name", "?id=42", "sid=abc; other=1"));

    [Fact]
    public void TryResolve_WhitespaceInPattern_IsIgnored() =>
        Assert.Equal((true, "q-7", ""), Resolve(" q- ${query:id} ", "?id=7"));

    /// <summary>
    /// <c>news </c> would be another queue than <c>news</c> that looks the same in every listing, log and page: a space at
    /// either end of a value from the request or the token, or of the name it builds, is refused; inside, it is text.
    /// </summary>
    [Theory]
    [InlineData("${query:id}", "?id=news%20", "", "query parameter 'id' starts or ends with a space")]
    [InlineData("${query:id}", "?id=%20news", "", "query parameter 'id' starts or ends with a space")]
    [InlineData("${query:id}", "?id=news+", "", "query parameter 'id' starts or ends with a space")]
    [InlineData("${query:id}", "?id=%20", "", "query parameter 'id' starts or ends with a space")]
    [InlineData("inbox.${query:id}", "?id=%2042", "", "query parameter 'id' starts or ends with a space")] // inbox. 42
    [InlineData("${cookie:sid}.inbox", "", "sid=42%20", "cookie 'sid' starts or ends with a space")]
    [InlineData("${cookie:sid}.inbox", "", "sid=\" 42\"", "cookie 'sid' starts or ends with a space")]
    public void TryResolve_ASpaceAtEitherEnd_IsRefused(string pattern, string query, string cookie, string reason) =>
        Assert.Equal((false, "", reason), Resolve(pattern, query, cookie));

    [Theory]
    [InlineData("user-${claim:sub}", "alice ")]
    [InlineData("${claim:sub}.inbox", " alice")]
    public void TryResolve_AClaimWithASpaceAtEitherEnd_IsRefused(string pattern, string sub) =>
        Assert.Equal((false, "", "token claim 'sub' starts or ends with a space"), ResolveWithClaims(pattern, ("sub", sub)));

    [Fact]
    public void TryResolve_ASpaceInside_IsText() =>
        Assert.Equal((true, "news of today", ""), Resolve("${query:id}", "?id=news%20of+today"));

    [Theory]
    [InlineData("news ")]
    [InlineData(" news")]
    public void Check_ANameWithASpaceAtEitherEnd_IsRefused(string name) =>
        Assert.Equal("topic name starts or ends with a space", QueueNameRules.Check(name, "topic name"));

    /// <summary>Which of two values was meant cannot be known: neither is taken.</summary>
    [Theory]
    [InlineData("?id=1&id=2")]
    [InlineData("?id=1&id=1")]
    [InlineData("?id=1&%69d=2")]
    [InlineData("?id=&id=2")]
    public void TryResolve_RepeatedParameter_IsRefused(string query) =>
        Assert.Equal((false, "", "query parameter 'id' given more than once"), Resolve("${query:id}", query));

    /// <summary>Names match exactly, as in the Go original: <c>ID</c> is another parameter than <c>id</c>.</summary>
    [Fact]
    public void TryResolve_ParameterNames_MatchExactly()
    {
        Assert.Equal((false, "", "missing query parameter 'id'"), Resolve("${query:id}", "?ID=1"));
        Assert.Equal((true, "2", ""), Resolve("${query:id}", "?ID=1&id=2"));
    }

    /// <summary>
    /// <c>%zz</c> would be read as the text <c>%zz</c>, exactly like the valid <c>%25zz</c>; <c>%FF</c> (not UTF-8) as
    /// <c>%FF</c> like <c>%25FF</c>: two requests, one name. Neither invalid form is taken.
    /// </summary>
    [Theory]
    [InlineData("?id=a%zzb")]
    [InlineData("?id=a%2")]
    [InlineData("?id=%")]
    [InlineData("?id=a%FFb")]
    [InlineData("?id=%C3")]
    [InlineData("?id=%ED%A0%80")]
    public void TryResolve_InvalidPercentEncoding_IsRefused(string query) =>
        Assert.Equal((false, "", "query parameter 'id' is not valid percent-encoded UTF-8"), Resolve("${query:id}", query));

    [Theory]
    [InlineData("?id=a%25zzb", "a%zzb")]
    [InlineData("?id=a%25FFb", "a%FFb")]
    [InlineData("?id=a+b", "a b")]
    [InlineData("?id=a%2Bb", "a+b")]
    public void TryResolve_ValidEscapes_AreDecoded(string query, string name) =>
        Assert.Equal((true, name, ""), Resolve("${query:id}", query));

    [Theory]
    [InlineData("sid=a; sid=b")]
    [InlineData("sid=a; other=1; sid=a")]
    [InlineData("sid=a;sid=b")]
    public void TryResolve_DuplicateCookie_IsRefused(string cookie) =>
        Assert.Equal((false, "", "cookie 'sid' given more than once"), Resolve("${cookie:sid}", cookie: cookie));

    /// <summary>Two Cookie headers (HTTP/2 sends one per cookie) count together.</summary>
    [Fact]
    public void TryResolve_DuplicateCookieAcrossHeaders_IsRefused()
    {
        var context = new DefaultHttpContext();
        context.Request.Headers.Cookie = new Microsoft.Extensions.Primitives.StringValues(["sid=a", "sid=b"]);

        var ok = new QueueNameResolver(QueuePattern.Parse("${cookie:sid}")).TryResolve(context.Request, out _, out var reason);

        Assert.False(ok);
        Assert.Equal("cookie 'sid' given more than once", reason);
    }

    /// <summary>Cookie names are case-sensitive (RFC 6265): <c>SID</c> set by another application is not <c>sid</c>.</summary>
    [Fact]
    public void TryResolve_CookieNames_MatchExactly()
    {
        Assert.Equal((false, "", "missing cookie 'sid'"), Resolve("${cookie:sid}", cookie: "SID=a"));
        Assert.Equal((true, "b", ""), Resolve("${cookie:sid}", cookie: "SID=a; sid=b"));
    }

    [Theory]
    [InlineData("sid=a%zz")]
    [InlineData("sid=%FF")]
    public void TryResolve_CookieWithInvalidPercentEncoding_IsRefused(string cookie) =>
        Assert.Equal((false, "", "cookie 'sid' is not valid percent-encoded UTF-8"), Resolve("${cookie:sid}", cookie: cookie));

    [Theory]
    [InlineData("sid=a%20b", "a b")]
    [InlineData("sid=a+b", "a+b")]
    public void TryResolve_CookieValues_AreDecodedAsAspNetCoreWritesThem(string cookie, string name) =>
        Assert.Equal((true, name, ""), Resolve("${cookie:sid}", cookie: cookie));

    /// <summary>
    /// RFC 6265 section 4.1.1: cookie-value = *cookie-octet / ( DQUOTE *cookie-octet DQUOTE ). A quoted value is the text
    /// between the quotes, as the applications that set such cookies read them back (and auth.from_cookie, through the
    /// same reading); the queue was named with the quotes.
    /// </summary>
    [Theory]
    [InlineData("sid=\"quoted\"", "quoted")]
    [InlineData("sid=\"a%20b\"", "a b")]
    [InlineData("sid= \"q\" ; other=1", "q")]
    [InlineData("sid=\"\"\"", "\"")]
    [InlineData("sid=\"open", "\"open")] // not quoted: a quote alone is the value's own, as before
    public void TryResolve_QuotedCookieValue_IsTheTextBetweenTheQuotes(string cookie, string name) =>
        Assert.Equal((true, name, ""), Resolve("${cookie:sid}", cookie: cookie));

    [Fact]
    public void TryResolve_EmptyQuotedCookie_IsMissing() =>
        Assert.Equal((false, "", "missing cookie 'sid'"), Resolve("${cookie:sid}", cookie: "sid=\"\""));

    /// <summary>Names that look like another name: invisible characters, bidirectional overrides, odd spaces.</summary>
    [Theory]
    [InlineData("%E2%80%8B")] // U+200B zero width space
    [InlineData("%E2%80%8D")] // U+200D zero width joiner
    [InlineData("%E2%80%AE")] // U+202E right-to-left override
    [InlineData("%E2%81%A6")] // U+2066 left-to-right isolate
    [InlineData("%E2%80%8F")] // U+200F right-to-left mark
    [InlineData("%EF%BB%BF")] // U+FEFF byte order mark
    [InlineData("%C2%AD")]    // U+00AD soft hyphen
    [InlineData("%C2%A0")]    // U+00A0 no-break space
    [InlineData("%E3%80%80")] // U+3000 ideographic space
    [InlineData("%E2%80%A8")] // U+2028 line separator
    [InlineData("%EF%B8%8F")] // U+FE0F variation selector
    [InlineData("%E3%85%A4")] // U+3164 Hangul filler
    [InlineData("%F3%A0%80%81")] // U+E0001 language tag
    public void TryResolve_InvisibleOrBidiCharacters_AreRefused(string escaped) =>
        Assert.Equal((false, "", "queue name contains invisible or bidirectional-control characters"), Resolve("${query:id}", $"?id=user{escaped}42"));

    [Theory]
    [InlineData("?id=caf%C3%A9", "café")]
    [InlineData("?id=%D7%A9%D7%9C%D7%95%D7%9D", "שלום")]
    [InlineData("?id=%F0%9F%8E%89", "🎉")]
    [InlineData("?id=a%20b", "a b")]
    public void TryResolve_VisibleUnicode_IsFine(string query, string name) =>
        Assert.Equal((true, name, ""), Resolve("${query:id}", query));

    [Fact]
    public void TryResolve_PercentEncodedUtf8_IsDecoded() =>
        Assert.Equal((true, "grüße", ""), Resolve("${query:id}", "?id=gr%C3%BC%C3%9Fe"));

    [Theory]
    [InlineData("${query:id}", "", null, "missing query parameter 'id'")]
    [InlineData("${query:id}", "?id=", null, "missing query parameter 'id'")]
    [InlineData("${cookie:sid}", "", "other=1", "missing cookie 'sid'")]
    [InlineData("${cookie:sid}", "", null, "missing cookie 'sid'")]
    [InlineData("${query:id}", "?id=amq.gen", null, "queue name must not start with 'amq.'")]
    [InlineData("${query:id}", "?id=AMQ.x", null, "queue name must not start with 'amq.'")]
    [InlineData("${query:id}", "?id=eventsourced.lock.abc", null, "queue name must not start with 'eventsourced.lock.' (the gateway's lock queues)")]
    [InlineData("eventsourced.${query:id}", "?id=lock.x", null, "queue name must not start with 'eventsourced.lock.' (the gateway's lock queues)")]
    [InlineData("${query:id}", "?id=a%09b", null, "queue name contains control characters")]
    [InlineData("${query:id}", "?id=a%7Fb", null, "queue name contains control characters")]
    [InlineData("${query:id}", "?id=a%C2%85b", null, "queue name contains control characters")]
    [InlineData("${query:id}", "?id=a%C2%80b", null, "queue name contains control characters")]
    [InlineData("${query:id}", "?id=a%C2%9Bb", null, "queue name contains control characters")]
    public void TryResolve_BadInput_FailsWithReason(string pattern, string query, string? cookie, string reason) =>
        Assert.Equal((false, "", reason), Resolve(pattern, query, cookie));

    [Fact]
    public void TryResolve_LimitIsUtf8BytesNotCharacters()
    {
        Assert.True(Resolve("${query:id}", "?id=" + new string('a', 255)).Ok);
        Assert.Equal("queue name longer than 255 bytes", Resolve("${query:id}", "?id=" + new string('a', 256)).Reason);
        // 128 two-byte characters: 128 chars, 256 bytes.
        Assert.Equal("queue name longer than 255 bytes", Resolve("${query:id}", "?id=" + string.Concat(Enumerable.Repeat("%C3%A9", 128))).Reason);
        Assert.True(Resolve("${query:id}", "?id=" + string.Concat(Enumerable.Repeat("%C3%A9", 127))).Ok);
    }

    [Fact]
    public void TryResolve_AmqInsideTheName_IsFine() =>
        Assert.True(Resolve("x-${query:id}", "?id=amq.y").Ok);

    private static (bool Ok, string Name, string Reason) ResolveWithClaims(string pattern, params (string Type, string Value)[] claims) =>
        ResolveWithClaimsOf(Eventsourced.Authentication.SubscriberAuthenticator.TokenAuthenticationType, pattern, claims);

    /// <summary>As <see cref="ResolveWithClaims"/> for a user signed in by <paramref name="authenticationType"/>: a token's, or an embedding application's sign-in.</summary>
    private static (bool Ok, string Name, string Reason) ResolveWithClaimsOf(string authenticationType, string pattern, params (string Type, string Value)[] claims) =>
        ResolveFor(authenticationType, pattern, string.Empty, claims);

    /// <summary>A request with <paramref name="query"/> and a token's claims.</summary>
    private static (bool Ok, string Name, string Reason) ResolveWithQueryAndClaims(string pattern, string query, params (string Type, string Value)[] claims) =>
        ResolveFor(Eventsourced.Authentication.SubscriberAuthenticator.TokenAuthenticationType, pattern, query, claims);

    private static (bool Ok, string Name, string Reason) ResolveFor(string authenticationType, string pattern, string query, (string Type, string Value)[] claims)
    {
        var context = new DefaultHttpContext
        {
            User = new System.Security.Claims.ClaimsPrincipal(new System.Security.Claims.ClaimsIdentity(
                claims.Select(c => new System.Security.Claims.Claim(c.Type, c.Value)), authenticationType)),
        };
        context.Request.QueryString = new QueryString(query);
        var ok = new QueueNameResolver(QueuePattern.Parse(pattern)).TryResolve(context.Request, out var name, out var reason);
        return (ok, name, reason);
    }

    [Fact]
    public void TryResolve_ClaimPattern_TakesTheTokensClaim() =>
        Assert.Equal((true, "user-42", ""), ResolveWithClaims("user-${claim:sub}", ("sub", "42"), ("name", "x")));

    [Fact]
    public void TryResolve_ClaimPattern_AnyClaimName() =>
        Assert.Equal((true, "t-acme-42", ""), ResolveWithClaims("t-${claim:https://example.com/tenant}-${claim:sub}", ("https://example.com/tenant", "acme"), ("sub", "42")));

    [Fact]
    public void TryResolve_AClaimThatContainsItsSeparator_IsRefused_SoNoTwoTokensBuildOneName()
    {
        // user-12-5-inbox was both sub 12 asking for 5-inbox and sub 12-5 asking for inbox: one token opened another's queue.
        const string Pattern = "user-${claim:sub}-${query:id}";
        Assert.Equal((true, "user-12-5-inbox", ""), ResolveWithQueryAndClaims(Pattern, "?id=5-inbox", ("sub", "12")));
        Assert.Equal(
            (false, "", "token claim 'sub' must not contain '-': the pattern separates a token's claim with it, and two tokens could build the same name"),
            ResolveWithQueryAndClaims(Pattern, "?id=inbox", ("sub", "12-5")));

        // After the request's value too; other characters are fine.
        Assert.Equal((true, "in.x-y.a_b", ""), ResolveWithQueryAndClaims("in.${query:tab}.${claim:sub}", "?tab=x-y", ("sub", "a_b")));
        Assert.False(ResolveWithQueryAndClaims("in.${query:tab}.${claim:sub}", "?tab=x", ("sub", "a.b")).Ok);

        // Every punctuation character of the literal between them separates; letters do not.
        Assert.False(ResolveWithQueryAndClaims("u-${claim:sub}_x-${query:id}", "?id=1", ("sub", "a_b")).Ok);
        Assert.True(ResolveWithQueryAndClaims("u-${claim:sub}_x-${query:id}", "?id=1", ("sub", "axb")).Ok);

        // Only what separates it from another placeholder: a claim alone, or two claims apart, may contain the rest.
        Assert.Equal((true, "user-a-b.inbox", ""), ResolveWithQueryAndClaims("user-${claim:sub}.inbox", "", ("sub", "a-b")));
        Assert.Equal((true, "t-a.b:c.d", ""), ResolveWithQueryAndClaims("t-${claim:tenant}:${claim:sub}", "", ("tenant", "a.b"), ("sub", "c.d")));
        Assert.False(ResolveWithQueryAndClaims("t-${claim:tenant}:${claim:sub}", "", ("tenant", "a:b"), ("sub", "c")).Ok);
    }

    [Fact]
    public void TryResolve_AClaimBetweenTwoRequestValues_TheValuesBeforeItMustNotContainItsLeftSeparator()
    {
        // x.y.z.w was sub y (a=x, b=z.w) and sub z (a=x.y, b=w).
        const string Pattern = "${query:a}.${claim:sub}.${query:b}";
        Assert.Equal((true, "x.y.z.w", ""), ResolveWithQueryAndClaims(Pattern, "?a=x&b=z.w", ("sub", "y")));
        Assert.Equal(
            (false, "", "query parameter 'a' must not contain '.': the pattern separates a token's claim with it, and two tokens could build the same name"),
            ResolveWithQueryAndClaims(Pattern, "?a=x.y&b=w", ("sub", "z")));
    }

    [Fact]
    public void TryResolve_MissingClaim_FailsWithReason()
    {
        Assert.Equal((false, "", "token has no claim 'sub'"), ResolveWithClaims("user-${claim:sub}", ("name", "x")));
        // auth.application_user: the application's sign-in (cookies here) stands for the token, and the reason names it.
        Assert.Equal((false, "", "signed-in user has no claim 'sub'"), ResolveWithClaimsOf("Cookies", "user-${claim:sub}", ("name", "x")));
        Assert.Equal((false, "", "signed-in user's claim 'sub' has several values"), ResolveWithClaimsOf("Cookies", "user-${claim:sub}", ("sub", "1"), ("sub", "2")));
    }

    [Theory]
    [InlineData("{\"x\": 1}", false, "token claim 'team' is not a string or a number")]
    [InlineData("{}", false, "token claim 'team' is not a string or a number")]
    [InlineData("[{\"x\": 1}]", false, "token claim 'team' is not a string or a number")]
    [InlineData("[[\"a\"]]", false, "token claim 'team' is not a string or a number")]
    [InlineData("\"red\"", true, "t.red")]
    [InlineData("42", true, "t.42")]
    [InlineData("true", true, "t.true")]
    public async Task TryResolve_ClaimOfAVerifiedToken_TakesAStringNumberOrBoolean_RefusesAnObject(string json, bool ok, string expected)
    {
        // The principal as the gateway makes it from a signed token: an object claim became its JSON text in the name.
        var claims = Eventsourced.Testing.Tokens.TestTokens.Claims("42");
        claims["team"] = System.Text.Json.JsonSerializer.Deserialize<System.Text.Json.JsonElement>(json);
        var context = Authentication.AuthTesting.Request(bearer: Eventsourced.Testing.Tokens.TestTokens.Hs256(claims));
        var verified = await Authentication.AuthTesting.WithSecret().AuthenticateAsync(context);
        Assert.True(verified.Succeeded, verified.Reason);
        context.User = verified.User!;

        var resolved = new QueueNameResolver(QueuePattern.Parse("t.${claim:team}")).TryResolve(context.Request, out var name, out var reason);

        Assert.Equal((ok, expected), (resolved, ok ? name : reason));
    }

    [Fact]
    public void TryResolve_ClaimWithSeveralValues_FailsWithReason() =>
        Assert.Equal((false, "", "token claim 'sub' has several values"), ResolveWithClaims("user-${claim:sub}", ("sub", "1"), ("sub", "2")));

    [Fact]
    public void TryResolve_ClaimValue_IsCheckedLikeAnyName() =>
        Assert.Equal((false, "", "queue name contains invisible or bidirectional-control characters"), ResolveWithClaims("${claim:sub}", ("sub", "4\u200B2")));

    [Fact]
    public void TryResolve_LockPrefixInsideTheName_IsFine() =>
        Assert.True(Resolve("x-${query:id}", "?id=eventsourced.lock.y").Ok);
}
